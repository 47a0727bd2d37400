"""The job-side client: what it sends to Axon's tracking endpoints, how it batches, and how it
keeps the job going when Axon refuses a report or cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import axon_tracking
from axon_tracking import sender
from tests.waiting import wait_for


@dataclass
class FakeAxon:
    """A real HTTP server on loopback that records requests and answers with `status`/`answer`."""

    url: str = ""
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)
    drop: int = 0  # how many requests to hang up on without an answer
    hold: threading.Event | None = None  # while set, requests wait for it to be cleared
    requests: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self, endpoint: str) -> list[Any]:
        return [r["json"] for r in self.requests if r["path"].endswith(f"/{endpoint}")]

    def reports(self, endpoint: str = "metrics") -> list[dict[str, Any]]:
        return [report for body in self.bodies(endpoint) for report in body]


@pytest.fixture
def axon() -> Iterator[FakeAxon]:
    fake = FakeAxon()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if fake.hold is not None:
                fake.hold.wait(30)
            if fake.drop:
                fake.drop -= 1
                self.close_connection = True
                return
            is_json = self.headers.get("Content-Type") == "application/json"
            fake.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "json": json.loads(body) if is_json else None,
                    "body": body,
                    "raw": body.decode(errors="replace"),
                }
            )
            payload = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    if fake.hold is not None:
        fake.hold.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def job_env(axon: FakeAxon, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AXON_RUN_UUID", "run-123")
    monkeypatch.setenv("AXON_API_URL", axon.url + "/")
    monkeypatch.setenv("AXON_RUN_TOKEN", "tok-456")
    monkeypatch.delenv("AXON_OUTPUTS_PATH", raising=False)
    monkeypatch.setattr(sender, "BACKOFF", 0.0)
    yield
    axon_tracking.end(timeout=5)


def run_for(axon: FakeAxon, **options: Any) -> axon_tracking.Run:
    options.setdefault("system_interval", 0)
    return axon_tracking.Run(uuid="r1", api_url=axon.url, token="t", **options)


@pytest.mark.usefixtures("job_env")
def test_log_outputs_reaches_the_run_named_by_the_environment_with_its_token(axon: FakeAxon):
    axon_tracking.log_outputs(accuracy=0.93, model="s3://bucket/model.pt")
    axon_tracking.end()

    [request] = [r for r in axon.requests if r["path"].endswith("/outputs")]
    assert request["path"] == "/api/v1/runs/run-123/outputs"
    assert request["headers"]["Authorization"] == "Bearer tok-456"
    assert request["json"] == {
        "outputs": {"accuracy": 0.93, "model": "s3://bucket/model.pt"},
        "reset": False,
    }


@pytest.mark.usefixtures("job_env")
def test_many_metric_calls_travel_as_few_requests_each_within_axons_cap(axon: FakeAxon):
    for step in range(2500):
        axon_tracking.log_metrics(step=step, loss=1.0 / (step + 1))
    axon_tracking.end()

    reports = axon.reports("metrics")
    assert [report["step"] for report in reports] == list(range(2500))
    assert all(len(body) <= sender.MAX_PER_REQUEST for body in axon.bodies("metrics"))
    assert len(axon.bodies("metrics")) < 2500 / 100
    assert reports[3]["metrics"] == {"loss": 0.25}
    assert abs(reports[3]["time"] - time.time()) < 60


def test_without_a_step_the_step_is_left_to_axon(axon: FakeAxon):
    run = run_for(axon)
    run.log_metrics(loss=0.5)
    run.end()

    [report] = axon.reports("metrics")
    assert "step" not in report and report["metrics"] == {"loss": 0.5}


def test_nan_infinities_and_numpy_numbers_are_sent_as_strict_json(axon: FakeAxon):
    run = run_for(axon)
    run.log_metrics(step=0, loss=float("nan"), grad=float("inf"), lr=np.float32(0.5))
    run.log_outputs(best=float("-inf"))
    run.end()

    [metrics_request] = [r for r in axon.requests if r["path"].endswith("/metrics")]
    assert "NaN" not in metrics_request["raw"].replace('"NaN"', "")  # no bare word
    assert axon.reports("metrics")[0]["metrics"] == {
        "loss": "NaN",
        "grad": "Infinity",
        "lr": 0.5,
    }
    assert axon.bodies("outputs") == [{"outputs": {"best": "-Infinity"}, "reset": False}]


def test_a_call_returns_at_once_while_axon_is_slow_to_answer(axon: FakeAxon):
    axon.hold = threading.Event()
    run = run_for(axon, flush_seconds=0.01)
    run.log_metrics(step=0, loss=1.0)
    wait_for(lambda: not run._sender.queue, timeout=10, message="the first report taken")

    for step in range(1, 2001):  # all while the first request hangs
        run.log_metrics(step=step, loss=1.0)

    assert axon.requests == []
    axon.hold.set()
    run.end()
    assert [r["step"] for r in axon.reports("metrics")] == list(range(2001))


def test_an_unreachable_axon_is_said_once_on_stderr_and_the_drops_counted(capfd, monkeypatch):
    monkeypatch.setattr(sender, "BACKOFF", 0.0)
    run = axon_tracking.Run(uuid="r", api_url="http://127.0.0.1:9", token="t", system_interval=0)

    for step in range(10):
        run.log_metrics(step=step, loss=0.1)
        run.log_outputs(accuracy=0.9)
    run.end(timeout=20)

    said = capfd.readouterr().err
    assert run.dropped == 20
    assert said.count("cannot be reached") == 1
    assert "20 report(s) were dropped in all; 0 were sent" in said


def test_a_refused_report_is_dropped_with_the_servers_reason_and_not_retried(axon, capfd):
    axon.status = 413
    axon.answer = {"error": {"code": 413, "message": "a run keeps at most 10 metric values"}}
    run = run_for(axon)

    run.log_metrics(step=1, loss=0.5)
    run.end()

    assert len(axon.requests) == 1
    assert run.dropped == 1
    assert "HTTP 413: a run keeps at most 10 metric values" in capfd.readouterr().err


def test_a_dropped_connection_is_retried(axon: FakeAxon, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sender, "BACKOFF", 0.0)
    axon.drop = 2
    run = run_for(axon)

    run.log_outputs(accuracy=0.9)
    run.end()

    assert axon.drop == 0
    assert axon.bodies("outputs") == [{"outputs": {"accuracy": 0.9}, "reset": False}]
    assert run.dropped == 0


def test_outputs_inputs_tags_description_and_events_reach_their_endpoints(axon: FakeAxon):
    run = run_for(axon)
    run.log_inputs(lr=0.01, layers=3)
    run.log_outputs(accuracy=0.9)
    run.log_outputs(loss=0.2)
    run.log_tags(["baseline", "gpu"])
    run.log_tags("nightly")
    run.set_description("a first try")
    run.log_event("checkpoint", epoch=3)
    run.end()

    assert axon.bodies("inputs") == [{"inputs": {"lr": 0.01, "layers": 3}, "reset": False}]
    # Consecutive outputs travel as one request.
    assert axon.bodies("outputs") == [{"outputs": {"accuracy": 0.9, "loss": 0.2}, "reset": False}]
    assert [b["tags"] for b in axon.bodies("tags")] == [["baseline", "gpu"], ["nightly"]]
    assert axon.bodies("description") == [{"description": "a first try"}]
    [event] = axon.bodies("job-events")[0]["events"]
    assert (event["name"], event["data"]) == ("checkpoint", {"epoch": 3})


def test_progress_is_a_fraction_or_a_count_of_a_total_with_figures_beside_it(axon: FakeAxon):
    run = run_for(axon)
    run.log_progress(0.25)
    run.log_event("separator")
    run.log_progress(epoch=3, of=10, loss=0.2)
    run.end()

    assert axon.bodies("progress") == [
        {"value": 0.25, "figures": {}},
        {"current": 3, "total": 10, "unit": "epoch", "figures": {"loss": 0.2}},
    ]


def test_artifacts_models_and_the_outputs_directory_are_uploaded(axon: FakeAxon, tmp_path: Path):
    (tmp_path / "report.html").write_text("<h1>ok</h1>")
    model = tmp_path / "model"
    (model / "weights").mkdir(parents=True)
    (model / "weights" / "w.bin").write_bytes(b"\x00\x01\x02")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "confusion matrix.csv").write_text("1,0\n0,1\n")
    run = run_for(axon, outputs_path=str(outputs))

    run.log_artifact(tmp_path / "report.html")
    run.log_model(model, framework="pytorch")
    run.end()

    uploads = {r["path"]: r["body"] for r in axon.requests if r["method"] == "PUT"}
    base = "/api/v1/runs/r1/artifacts"
    assert uploads == {
        f"{base}/artifacts/report.html": b"<h1>ok</h1>",
        f"{base}/models/model/weights/w.bin": b"\x00\x01\x02",
        f"{base}/outputs/confusion%20matrix.csv": b"1,0\n0,1\n",
    }
    events = [e for body in axon.bodies("job-events") for e in body["events"]]
    assert {
        "name": "model",
        "data": {"path": "models/model", "files": 1, "framework": "pytorch"},
    } in [{"name": e["name"], "data": e["data"]} for e in events]


def test_with_psutil_the_job_s_cpu_and_memory_are_sampled(axon: FakeAxon):
    pytest.importorskip("psutil")
    run = run_for(axon, system_interval=0.05, flush_seconds=0.05)

    wait_for(lambda: len(axon.reports("system")) >= 2, timeout=20, message="two samples")
    run.end()

    sample = axon.reports("system")[-1]
    assert {"cpu_percent", "memory_rss_bytes", "memory_percent"} <= set(sample["metrics"])
    assert sample["metrics"]["memory_rss_bytes"] > 1_000_000  # this Python process, at least


def test_outside_axon_the_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AXON_RUN_UUID", raising=False)
    axon_tracking.end()

    with pytest.raises(axon_tracking.TrackingError, match="AXON_RUN_UUID is not set"):
        axon_tracking.log_outputs(accuracy=0.9)


def test_a_report_axon_would_refuse_is_dropped_alone_not_with_its_batch(axon, capfd):
    run = run_for(axon)

    run.log_metrics(step=0, loss=0.5)
    run.log_metrics(step=-1, loss=0.4)
    run.log_metrics(step=1, loss="low")
    run.log_metrics(step=2, loss=0.3)
    run.end()

    assert [r["step"] for r in axon.reports("metrics")] == [0, 2]
    assert run.dropped == 2
    said = capfd.readouterr().err
    assert "step -1 is not a whole number from 0" in said
    assert "metric 'loss' is str, not a number" in said


def test_a_job_that_reports_only_at_its_exit_is_still_heard(axon: FakeAxon, tmp_path: Path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "result.json").write_text('{"ok": true}')
    script = (
        "import axon_tracking, sys\n"
        "axon_tracking.Run('r1', sys.argv[1], 't', system_interval=0, outputs_path=sys.argv[2])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, axon.url, str(outputs)], capture_output=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    uploads = {r["path"]: r["body"] for r in axon.requests if r["method"] == "PUT"}
    assert uploads == {"/api/v1/runs/r1/artifacts/outputs/result.json": b'{"ok": true}'}
