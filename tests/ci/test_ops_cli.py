"""Daily work from the command line, against a real Axon on loopback: a job reports through
`axon_tracking`, and `axon ops ls/get/logs/metrics/artifacts/compare` read it back as a table,
JSON or YAML."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from werkzeug.serving import make_server

import axon_tracking
from ci.cli.commands import main
from ci.runs import lifecycle
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.conftest import API_TOKEN

S = RunStatus
RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)


@pytest.fixture
def axon_url(app: Any) -> Iterator[str]:
    """The app under test served over HTTP on loopback, one request at a time."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def axon(axon_url: str) -> Any:
    runner = CliRunner()

    def run(*args: str) -> Any:
        env = {"AXON_URL": axon_url, "AXON_API_TOKEN": API_TOKEN}
        result = runner.invoke(main, ["ops", *args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def make_run(db: Any, name: str, *path: S, logs: str | None = None) -> Run:
    with db.session() as session:
        project = session.query(Project).filter_by(name="vision").one_or_none()
        row = Run(project=project or Project(name="vision"), name=name, runner="local")
        lifecycle.create(session, row)
        session.flush()
        for status in path:
            if status == S.SCHEDULED:
                row.external_id = f"local-{row.uuid}"
            lifecycle.transition(session, row, status)
        row.logs = logs
        session.flush()
        session.expunge(row)
        return row


def job(rt: Any, axon_url: str, run: Run, lr: float, tmp_path: Path) -> None:
    """What a training script does, through the real client."""
    tracking = axon_tracking.Run(
        run.uuid, axon_url, rt.run_token(run.uuid), system_interval=0, flush_seconds=0.05
    )
    tracking.log_inputs(lr=lr)
    for step in range(100):
        tracking.log_metrics(step=step, loss=lr * 100 / (step + 1))
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    tracking.log_model(tmp_path / "model")
    tracking.log_tags(["nightly"])
    tracking.end(timeout=30)
    assert tracking.dropped == 0


def test_metrics_show_each_last_value_and_a_series_step_by_step(axon, axon_url, db, rt, tmp_path):
    run = make_run(db, "train", *RUNNING)
    job(rt, axon_url, run, 0.01, tmp_path)

    summary = axon("metrics", run.uuid)
    series = json.loads(axon("metrics", run.uuid, "--name", "loss", "-o", "json"))
    cut = yaml.safe_load(axon("metrics", run.uuid, "-n", "loss", "--points", "10", "-o", "yaml"))

    assert summary.splitlines()[0].split() == ["NAME", "POINTS", "LAST", "STEP", "LAST", "VALUE"]
    assert summary.splitlines()[1].split() == ["loss", "100", "99", "0.01"]
    assert series[0]["steps"] == list(range(100)) and series[0]["values"][0] == 1.0
    assert cut[0]["count"] == 100 and len(cut[0]["steps"]) <= 10


def test_artifacts_are_listed_and_downloaded(axon, axon_url, db, rt, tmp_path):
    run = make_run(db, "train", *RUNNING)
    job(rt, axon_url, run, 0.01, tmp_path)
    target = tmp_path / "downloaded"

    listed = axon("artifacts", run.uuid)
    axon("artifacts", run.uuid, "--download", str(target), "--path", "models")

    assert [line.split() for line in listed.splitlines()] == [
        ["PATH", "SIZE"],
        ["models/model/weights.bin", "2000"],
    ]
    assert (target / "models" / "model" / "weights.bin").read_bytes() == b"\x00\x01" * 1000


def test_runs_are_listed_as_a_table_json_or_yaml_and_one_is_shown(axon, db):
    run = make_run(db, "train", *RUNNING)

    table = axon("ls", "-o", "table").splitlines()
    as_json = json.loads(axon("ls", "-o", "json"))
    as_yaml = yaml.safe_load(axon("ls", "-q", "status:running", "-o", "yaml"))
    shown = yaml.safe_load(axon("get", run.uuid, "-o", "yaml"))
    fields = axon("get", run.uuid, "-o", "table")

    assert table[0].split()[:3] == ["UUID", "STATUS", "KIND"]
    assert table[1].split()[:5] == [run.uuid, "running", "job", "vision", "train"]
    assert [r["uuid"] for r in as_json] == [r["uuid"] for r in as_yaml] == [run.uuid]
    assert shown["uuid"] == run.uuid and shown["status"] == "running"
    assert f"uuid        {run.uuid}" in fields


def test_compare_puts_runs_params_and_metrics_side_by_side(axon, axon_url, db, rt, tmp_path):
    one, two = make_run(db, "one", *RUNNING), make_run(db, "two", *RUNNING)
    job(rt, axon_url, one, 0.01, tmp_path)
    job(rt, axon_url, two, 0.1, tmp_path)

    rows = {
        line.split()[0]: line.split()[1:]
        for line in axon("compare", one.uuid, two.uuid).splitlines()[1:]
    }
    as_json = json.loads(axon("compare", one.uuid, two.uuid, "-o", "json"))

    assert rows["param.lr"] == ["0.01", "0.1"]
    assert rows["output.loss"] == ["0.01", "0.1"]
    assert rows["status"] == ["running", "running"]
    assert [r["inputs"]["lr"] for r in as_json] == [0.01, 0.1]


def test_logs_of_a_finished_run_are_printed_and_following_them_ends(axon, db):
    run = make_run(db, "train", *RUNNING, S.SUCCEEDED, logs="epoch 1\nepoch 2\n")

    assert axon("logs", run.uuid, "-f") == "epoch 1\nepoch 2\n"


@pytest.mark.parametrize(
    "command", ["ls", "get", "logs", "metrics", "artifacts", "compare", "stop", "children"]
)
def test_every_ops_command_helps_with_an_example(command):
    result = CliRunner().invoke(main, ["ops", command, "--help"])

    assert result.exit_code == 0
    assert "Example:" in result.output and f"axon ops {command}" in result.output
