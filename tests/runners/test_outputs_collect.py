"""The collector beside a Kubernetes job (`axon_tracking.collect`), against a loopback HTTP
server standing in for Axon's tracking API: it waits for the end, uploads every file of the
outputs directory with the run's token, retries what failed for want of an answer, and names
in a job event what it could not upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from axon_tracking import collect

UUID = "0f6c1f2e9c5b4c3a8d7e6f5a4b3c2d1e"
TOKEN = "run-token"
CODE_DIR = Path(__file__).resolve().parents[2]


@dataclass
class Axon:
    """What the double was sent, and how it answers: `answers` maps a path to its statuses."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    answers: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture
def axon() -> Iterator[Axon]:
    seen = Axon()
    prefix = f"/api/v1/runs/{UUID}/"

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            path = self.path.removeprefix(f"{prefix}artifacts/")
            status = (seen.answers.get(path) or [201]).pop(0)
            if status == 201:
                seen.files[path] = body
            self.answer(status)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.path == f"{prefix}job-events"
            seen.events.extend(json.loads(body)["events"])
            self.answer(201)

        def answer(self, status: int) -> None:
            seen.tokens.add(self.headers["Authorization"])
            message = {413: "an artifact has at most 10 bytes"}.get(status, "ok")
            data = json.dumps({"error": {"message": message}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    out = tmp_path / "outputs"
    (out / "checkpoints").mkdir(parents=True)
    (out / "model.txt").write_text("weights")
    (out / "checkpoints" / "epoch 1.ckpt").write_bytes(b"\x00\x01")
    return out


def collector_env(axon: Axon, **extra: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return {
        **env,
        "AXON_RUN_UUID": UUID,
        "AXON_API_URL": axon.url,
        "AXON_RUN_TOKEN": TOKEN,
        **extra,
    }


def test_the_collector_waits_for_the_end_then_uploads_every_file_with_the_runs_token(axon, outputs):
    with subprocess.Popen(
        [sys.executable, "-m", "axon_tracking.collect", str(outputs)],
        cwd=CODE_DIR,
        env=collector_env(axon),
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        assert "when the job ends" in proc.stderr.readline()  # listening for the end now
        (outputs / "late.txt").write_text("written just before the end")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

    assert axon.files == {
        "outputs/checkpoints/epoch%201.ckpt": b"\x00\x01",
        "outputs/late.txt": b"written just before the end",
        "outputs/model.txt": b"weights",
    }
    assert axon.tokens == {f"Bearer {TOKEN}"}
    assert axon.events == []


def test_the_collector_runs_from_its_source_text_alone_in_a_bare_interpreter(axon, outputs):
    source = Path(collect.__file__).read_text()
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", source, str(outputs), "--now"],
        cwd=outputs,
        env=collector_env(axon),
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 0, done.stderr
    assert sorted(axon.files) == ["outputs/checkpoints/epoch%201.ckpt", "outputs/model.txt"]


def test_a_refused_file_a_link_and_files_past_the_limit_are_named_in_a_job_event(
    axon, outputs, monkeypatch, capsys
):
    (outputs / "zz.txt").write_text("one too many")
    (outputs / "secrets").symlink_to("/etc/passwd")
    axon.answers["outputs/model.txt"] = [413]
    monkeypatch.setattr(collect, "BACKOFF", 0.01)
    axon.answers["outputs/checkpoints/epoch%201.ckpt"] = [503, 201]  # retried, then taken

    collector = collect.Collector(str(outputs), axon.url, UUID, TOKEN, most=2)
    collector.run()

    assert sorted(axon.files) == ["outputs/checkpoints/epoch%201.ckpt"]
    [event] = axon.events
    assert event["name"] == "outputs"
    assert event["data"] == {
        "files": 1,
        "bytes": 2,
        "refused": [
            "outputs/secrets: a symbolic link, not collected",
            "outputs/model.txt: HTTP 413: an artifact has at most 10 bytes",
            "outputs/zz.txt: more than 2 files in the outputs directory",
        ],
        "refused_count": 3,
    }
    assert "not uploaded: outputs/model.txt: HTTP 413" in capsys.readouterr().err


def test_a_collector_without_a_run_to_upload_to_says_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "axon_tracking.collect", str(tmp_path), "--now"],
        cwd=CODE_DIR,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 2
    assert "AXON_RUN_UUID, AXON_API_URL not set" in done.stderr


def test_an_unreachable_axon_is_named_after_the_retries(outputs, monkeypatch):
    monkeypatch.setattr(collect, "BACKOFF", 0.01)
    collector = collect.Collector(str(outputs), "http://127.0.0.1:9", UUID, TOKEN, most=10)

    collector.run()

    assert collector.files == 0
    assert len(collector.refused) == 2
    assert all("Axon cannot be reached" in reason for reason in collector.refused)
