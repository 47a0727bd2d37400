"""The job-side client: what it sends to Axon's outputs endpoint, and how it takes a refusal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import axon_tracking


@dataclass
class FakeAxon:
    """A real HTTP server on loopback that records requests and answers with `status`/`answer`."""

    url: str = ""
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)
    drop: int = 0  # how many requests to hang up on without an answer
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def axon() -> Iterator[FakeAxon]:
    fake = FakeAxon()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if fake.drop:
                fake.drop -= 1
                self.close_connection = True
                return
            fake.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            payload = json.dumps(fake.answer).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def job_env(axon: FakeAxon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXON_RUN_UUID", "run-123")
    monkeypatch.setenv("AXON_API_URL", axon.url + "/")
    monkeypatch.setenv("AXON_RUN_TOKEN", "tok-456")


@pytest.mark.usefixtures("job_env")
def test_log_outputs_posts_them_for_the_run_named_by_the_environment(axon: FakeAxon):
    axon_tracking.log_outputs(accuracy=0.93, model="s3://bucket/model.pt")

    [request] = axon.requests
    assert request["path"] == "/api/v1/runs/run-123/outputs"
    assert request["headers"]["Authorization"] == "Bearer tok-456"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {"outputs": {"accuracy": 0.93, "model": "s3://bucket/model.pt"}}


@pytest.mark.usefixtures("job_env")
def test_log_metrics_posts_them_to_the_metrics_endpoint_with_their_step(axon: FakeAxon):
    axon_tracking.log_metrics(step=7, loss=0.25, accuracy=0.9)

    [request] = axon.requests
    assert request["path"] == "/api/v1/runs/run-123/metrics"
    assert request["headers"]["Authorization"] == "Bearer tok-456"
    assert request["json"] == {"metrics": {"loss": 0.25, "accuracy": 0.9}, "step": 7}


@pytest.mark.usefixtures("job_env")
def test_log_metrics_without_a_step_leaves_the_step_to_axon(axon: FakeAxon):
    axon_tracking.Run().log_metrics(loss=0.5)

    [request] = axon.requests
    assert request["json"] == {"metrics": {"loss": 0.5}}


@pytest.mark.usefixtures("job_env")
def test_a_refused_metric_report_raises_with_the_servers_message(axon: FakeAxon):
    axon.status, axon.answer = 413, {"message": "a run keeps at most 10000 metric values"}

    with pytest.raises(axon_tracking.TrackingError, match="HTTP 413: a run keeps at most"):
        axon_tracking.log_metrics(step=1, loss=0.5)


def test_run_arguments_take_precedence_over_the_environment(axon: FakeAxon):
    axon_tracking.Run(uuid="other", api_url=axon.url, token="t").log_outputs(done=True)

    [request] = axon.requests
    assert request["path"] == "/api/v1/runs/other/outputs"
    assert request["headers"]["Authorization"] == "Bearer t"


@pytest.mark.usefixtures("job_env")
def test_a_refusal_raises_with_the_servers_message(axon: FakeAxon):
    axon.status, axon.answer = 401, {"message": "invalid run token"}

    with pytest.raises(axon_tracking.TrackingError, match="HTTP 401: invalid run token"):
        axon_tracking.log_outputs(accuracy=0.9)
    assert len(axon.requests) == 1


@pytest.mark.usefixtures("job_env")
def test_a_dropped_connection_is_retried(axon: FakeAxon, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(axon_tracking, "BACKOFF", 0.0)
    axon.drop = 2

    axon_tracking.log_outputs(accuracy=0.9)

    assert axon.drop == 0
    assert [request["json"] for request in axon.requests] == [{"outputs": {"accuracy": 0.9}}]


def test_an_unreachable_server_raises_after_retrying(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(axon_tracking, "BACKOFF", 0.0)
    run = axon_tracking.Run(uuid="r", api_url="http://127.0.0.1:9", token="t")

    with pytest.raises(axon_tracking.TrackingError, match="unreachable"):
        run.log_outputs(accuracy=0.9)


def test_outside_axon_the_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AXON_RUN_UUID", raising=False)

    with pytest.raises(axon_tracking.TrackingError, match="AXON_RUN_UUID is not set"):
        axon_tracking.log_outputs(accuracy=0.9)
