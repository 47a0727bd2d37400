"""Restart, resume and copy, as Polyaxon defines them: the API, the history, the artifacts."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ci.cli import client as cli_client
from ci.cli.commands import main
from ci.store.models import Run
from schemas.status import RunStatus
from tests.ci.cli_transport import Api
from tests.ci.conftest import advance, observed_to_end

S = RunStatus
FINISHED = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)


def uuid_of(db: Any, run_id: int) -> str:
    with db.session() as session:
        return str(session.get(Run, run_id).uuid)


def finished(db: Any, run_id: int, status: RunStatus = S.FAILED) -> str:
    advance(db, run_id, *FINISHED, status)
    return uuid_of(db, run_id)


def history(run: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["status"], c["reason"], c["message"]) for c in run["conditions"]]


def test_a_restart_is_a_new_run_of_the_same_operation_linking_the_original(
    client, db, enqueued, created_run
):
    original = finished(db, created_run)
    enqueued.clear()

    response = client.post(f"/api/v1/runs/{original}/restart")

    assert response.status_code == 201, response.json
    restart = response.json
    assert restart["uuid"] != original
    assert (restart["original"], restart["cloning_kind"], restart["status"]) == (
        original,
        "restart",
        "created",
    )
    assert history(restart) == [("created", "Restart", f"restart of run {original}, by api")]
    # It reports where the original did, for the same event.
    assert restart["subscription"] == "train-on-master"
    shown = client.get(f"/api/v1/runs/{original}").json
    assert shown["clones"] == [
        {"uuid": restart["uuid"], "cloning_kind": "restart", "status": "created"}
    ]
    with db.session() as session:
        new = session.query(Run).filter(Run.uuid == restart["uuid"]).one()
        old = session.get(Run, created_run)
        assert new.spec == old.spec and new.event == old.event
        assert enqueued == [("axon.start_run", (new.id,))]


def test_a_restart_with_changed_params_compiles_them(client, db, created_run, start):
    original = finished(db, created_run, S.SUCCEEDED)

    restart = client.post(f"/api/v1/runs/{original}/restart", json={"params": {"epochs": 8}})

    assert restart.status_code == 201, restart.json
    assert history(restart.json)[0][2] == f"restart of run {original} with epochs=8, by api"
    with db.session() as session:
        new_id = session.query(Run.id).filter(Run.uuid == restart.json["uuid"]).scalar()
    start(new_id)
    run = client.get(f"/api/v1/runs/{restart.json['uuid']}").json
    assert run["inputs"]["epochs"] == 8
    assert "--epochs=8" in run["compiled"]["command"]


def test_a_restart_with_a_param_that_does_not_fit_is_refused_and_creates_nothing(
    client, db, created_run
):
    original = finished(db, created_run)

    response = client.post(f"/api/v1/runs/{original}/restart", json={"params": {"epochs": "x"}})

    assert response.status_code == 422
    assert response.json["error"]["errors"][0]["path"] == "params.epochs"
    with db.session() as session:
        assert session.query(Run).count() == 1


def test_a_copy_starts_with_the_originals_outputs_and_artifacts_but_not_its_runner_files(
    client, db, settings, created_run
):
    original = finished(db, created_run, S.SUCCEEDED)
    old = Path(settings.runs_dir) / original
    (old / "outputs").mkdir(parents=True)
    (old / "outputs" / "model.txt").write_text("weights")
    (old / "artifacts" / "plots").mkdir(parents=True)
    (old / "artifacts" / "plots" / "loss.csv").write_text("1,0.3")
    (old / "spec.json").write_text("{}")  # the local runner's: the new run's would never start

    response = client.post(f"/api/v1/runs/{original}/copy")

    assert response.status_code == 201, response.json
    copy = response.json
    assert (copy["original"], copy["cloning_kind"]) == (original, "copy")
    assert history(copy) == [("created", "Copy", f"copy of run {original}, by api")]
    new = Path(settings.runs_dir) / copy["uuid"]
    assert (new / "outputs" / "model.txt").read_text() == "weights"
    assert (new / "artifacts" / "plots" / "loss.csv").read_text() == "1,0.3"
    assert not (new / "spec.json").exists()


def test_a_finished_run_resumes_as_itself_one_attempt_more(client, db, enqueued, created_run):
    original = finished(db, created_run, S.STOPPED)
    enqueued.clear()

    response = client.post(f"/api/v1/runs/{original}/resume")

    assert response.status_code == 202, response.json
    run = response.json
    assert (run["uuid"], run["status"], run["attempt"], run["external_id"]) == (
        original,
        "compiled",
        1,
        None,
    )
    assert [c[0] for c in history(run)][-3:] == ["stopped", "resuming", "compiled"]
    assert history(run)[-2][1:] == ("Resume", "resumed by api: attempt 2, artifacts kept")
    assert run["finished_at"] is None
    # Its statuses are reported as any run's are; it is started once.
    assert [e for e in enqueued if e[0] == "axon.start_run"] == [("axon.start_run", (created_run,))]


def test_a_resumed_run_runs_again_in_the_same_artifacts_directory(
    client, db, settings, created_run, start, local_runner
):
    start(created_run)
    first = client.get(f"/api/v1/runs/{uuid_of(db, created_run)}").json
    observed_to_end(local_runner, first["external_id"])
    advance(db, created_run, S.RUNNING, S.SUCCEEDED)
    outputs = Path(settings.runs_dir) / first["uuid"] / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "checkpoint").write_text("epoch 3")

    client.post(f"/api/v1/runs/{first['uuid']}/resume", json={"params": {"epochs": 6}})
    start(created_run)

    again = client.get(f"/api/v1/runs/{first['uuid']}").json
    assert again["status"] == "scheduled"
    # A try of its own on the runner, in the run's own directory.
    assert again["external_id"] not in (None, first["external_id"])
    assert again["inputs"]["epochs"] == 6
    assert (outputs / "checkpoint").read_text() == "epoch 3"
    assert observed_to_end(local_runner, again["external_id"])[-1].status == S.SUCCEEDED


def test_a_live_run_cannot_be_resumed(client, db, created_run):
    advance(db, created_run, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)
    uuid = uuid_of(db, created_run)

    response = client.post(f"/api/v1/runs/{uuid}/resume")

    assert response.status_code == 409
    assert response.json["error"]["message"] == (
        f"run {uuid} is running: only a finished run can be resumed"
    )


def test_a_pipeline_is_not_resumed_as_a_whole(client, db, created_run):
    uuid = finished(db, created_run)
    with db.session() as session:
        session.get(Run, created_run).kind = "dag"

    response = client.post(f"/api/v1/runs/{uuid}/resume")

    assert response.status_code == 409
    assert (
        "a dag is not resumed as a whole; resume its ops one by one, or restart it"
        in (response.json["error"]["message"])
    )


def test_cloning_an_unknown_run_is_404(client):
    for action in ("restart", "resume", "copy"):
        response = client.post(f"/api/v1/runs/{'0' * 32}/{action}")
        assert response.status_code == 404


@pytest.fixture
def api(client, db, monkeypatch) -> Api:
    transport = Api(client, db)
    monkeypatch.setattr(cli_client.requests, "request", transport)
    return transport


def axon(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"AXON_URL": "http://axon.test"})


def test_axon_ops_restart_resume_and_copy(api, db, created_run):
    original = finished(db, created_run)

    restarted = axon("ops", "restart", original, "-P", "epochs=4")
    copied = axon("runs", "copy", original)
    resumed = axon("ops", "resume", original)
    again = axon("ops", "resume", original)

    assert restarted.exit_code == 0, restarted.output
    assert copied.exit_code == 0, copied.output
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output.splitlines()[0] == original
    with db.session() as session:
        clones = session.query(Run).filter(Run.original_id == created_run).order_by(Run.id).all()
        assert [(c.uuid, c.cloning_kind) for c in clones] == [
            (restarted.output.split()[0], "restart"),
            (copied.output.split()[0], "copy"),
        ]
        assert clones[0].spec["params"]["epochs"] == {"value": 4}
        # Who asked: the command sends its user's login.
        assert clones[0].conditions[0].message.endswith(f", by {getpass.getuser()}")
    # Resumed, the run is live again: a second resume is refused, and nothing was started.
    assert again.exit_code == 2
    assert f"run {original} is compiled: only a finished run can be resumed" in again.output
