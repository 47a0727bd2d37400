"""Launch: a created run is compiled, queued and handed to its runner once; stops are honoured."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from ci.agent import recording
from ci.runs import launch
from ci.store.models import Run
from runners.local import LocalRunner
from schemas.status import RunStatus
from tests.ci.conftest import PUSHED_SHA, advance, observed_to_end, observed_until, operation
from tests.contracts.runner import statuses

PRINT_ENV = (
    "import json, os; "
    "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AXON_')}))"
)
SLEEP = "import time; time.sleep(30)"


def history(run):
    return [condition["status"] for condition in run["conditions"]]


def test_a_created_run_is_compiled_queued_and_scheduled_with_the_runners_id(
    axon, created_run, submitted, local_runner, start
):
    start(created_run)

    run = axon.run(created_run)
    assert run["status"] == "scheduled"
    assert history(run) == ["created", "compiled", "queued", "scheduled"]
    # The local runner's external id is the run's uuid.
    assert run["external_id"] == run["uuid"]
    scheduled = run["conditions"][-1]
    assert (scheduled["reason"], scheduled["message"]) == ("Submitted", f"local: {run['uuid']}")
    assert run["inputs"] == {"sha": PUSHED_SHA, "epochs": 3}
    argv = [sys.executable, "-c", "print('training')", "--epochs=3", "--sha", PUSHED_SHA]
    assert run["compiled"]["command"] == argv
    [spec] = submitted
    assert (spec.uuid, spec.project, spec.command) == (run["uuid"], "vision", argv)
    assert observed_to_end(local_runner, run["external_id"])[-1].status == RunStatus.SUCCEEDED


def test_starting_twice_submits_once_and_keeps_the_external_id(axon, created_run, submitted, start):
    start(created_run)
    first = axon.run(created_run)

    start(created_run)

    again = axon.run(created_run)
    assert len(submitted) == 1
    assert again["external_id"] == first["external_id"]
    assert history(again) == ["created", "compiled", "queued", "scheduled"]


def test_params_that_do_not_fit_the_inputs_fail_the_run_naming_the_field(axon, submitted, start):
    axon.create_project()
    # The branch is a name, not a number of epochs.
    axon.subscribe(operation=operation(epochs={"value": "{{ event.branch }}"}))
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    assert history(run) == ["created", "failed"]
    failed = run["conditions"][-1]
    assert failed["reason"] == "CompilationError"
    assert failed["message"].startswith("params.epochs: 'epochs' has type int")
    assert "'master'" in failed["message"]
    assert submitted == []


def test_the_job_learns_its_uuid_the_api_url_and_a_run_token_from_its_environment(
    rt, axon, local_runner, start
):
    axon.create_project()
    axon.subscribe(operation=operation(code=PRINT_ENV))
    [run_id] = axon.push()

    start(run_id)
    run = axon.run(run_id)
    observed_to_end(local_runner, run["external_id"])

    printed = next(
        line for line in local_runner.logs(run["external_id"]).splitlines() if line[:1] == "{"
    )
    env = json.loads(printed)
    assert env["AXON_RUN_UUID"] == run["uuid"]
    assert env["AXON_API_URL"] == "http://axon.test"
    assert env["AXON_RUN_TOKEN"] == rt.run_token(run["uuid"])


def test_the_run_token_lets_the_job_report_outputs(rt, axon, created_run, client, start):
    start(created_run)
    uuid = axon.run(created_run)["uuid"]

    response = client.post(
        f"/api/v1/runs/{uuid}/outputs",
        json={"outputs": {"accuracy": 0.93, "loss": 0.21}},
        headers={"Authorization": f"Bearer {rt.run_token(uuid)}"},
    )

    assert response.status_code == 200, response.json
    assert axon.run(created_run)["outputs"] == {"accuracy": 0.93, "loss": 0.21}


def test_another_runs_token_or_none_gets_401_and_changes_nothing(
    rt, axon, created_run, client, start
):
    axon.create_project("other", source="gh-other")
    axon.subscribe(project="other")
    [other_run] = axon.push(source="gh-other")
    start(created_run)
    uuid = axon.run(created_run)["uuid"]
    other_token = rt.run_token(axon.run(other_run)["uuid"])
    url = f"/api/v1/runs/{uuid}/outputs"
    body = {"outputs": {"accuracy": 1.0}}

    wrong = client.post(url, json=body, headers={"Authorization": f"Bearer {other_token}"})
    # The client's own API token would be let write (a user may): this call sends no token.
    missing = client.post(url, json=body, headers={"Authorization": ""})

    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "run token" in wrong.json["error"]["message"]
    assert axon.run(created_run)["outputs"] == {}


def test_outputs_of_a_finished_run_are_final_409(
    rt, axon, created_run, client, local_runner, start
):
    start(created_run)
    run = axon.run(created_run)
    uuid = run["uuid"]
    for observation in observed_to_end(local_runner, run["external_id"]):
        recording.apply(rt, local_runner, observation)
    assert axon.run(created_run)["status"] == "succeeded"

    response = client.post(
        f"/api/v1/runs/{uuid}/outputs",
        json={"outputs": {"accuracy": 0.5}},
        headers={"Authorization": f"Bearer {rt.run_token(uuid)}"},
    )

    assert response.status_code == 409
    assert response.json["error"]["message"] == f"run {uuid} is succeeded; its outputs are final"
    assert axon.run(created_run)["outputs"] == {}


def test_stopping_a_queued_run_stops_it_at_once(
    db, axon, created_run, client, enqueued, submitted, start
):
    advance(db, created_run, RunStatus.COMPILED, RunStatus.QUEUED)
    uuid = axon.run(created_run)["uuid"]

    response = client.post(f"/api/v1/runs/{uuid}/stop")

    assert response.status_code == 202
    assert response.json["status"] == "stopped"
    stopped = axon.run(created_run)["conditions"][-1]
    assert (stopped["status"], stopped["reason"], stopped["message"]) == (
        "stopped",
        "StopRequested",
        "stop requested; before it started",
    )
    assert "axon.stop_run" not in [name for name, _ in enqueued]
    start(created_run)  # the start message arrives late: nothing is submitted
    assert submitted == []


def test_stopping_a_scheduled_run_marks_it_stopping_and_asks_the_runner_to_stop_it(
    rt, db, axon, client, enqueued, local_runner, start
):
    axon.create_project()
    axon.subscribe(operation=operation(code=SLEEP))
    [run_id] = axon.push()
    start(run_id)
    run = axon.run(run_id)
    external_id = run["external_id"]
    observed_until(local_runner, external_id, {RunStatus.RUNNING})

    response = client.post(f"/api/v1/runs/{run['uuid']}/stop")

    assert response.status_code == 202
    assert response.json["status"] == "stopping"
    assert ("axon.stop_run", (run_id,)) in enqueued
    with db.session() as session:
        launch.stop_run(rt, session, run_id)
    ended = observed_to_end(local_runner, external_id)
    assert statuses(ended)[-1] == RunStatus.STOPPED


def test_stopping_twice_asks_the_runner_once(axon, created_run, client, enqueued, start):
    start(created_run)
    uuid = axon.run(created_run)["uuid"]

    first = client.post(f"/api/v1/runs/{uuid}/stop")
    second = client.post(f"/api/v1/runs/{uuid}/stop")

    assert (first.json["status"], second.json["status"]) == ("stopping", "stopping")
    assert [args for name, args in enqueued if name == "axon.stop_run"] == [(created_run,)]
    assert history(axon.run(created_run))[-1:] == ["stopping"]


def test_a_run_its_runner_cannot_take_fails_with_the_reason_instead_of_retrying(
    db, axon, created_run, start
):
    with db.session() as session:
        session.get(Run, created_run).runner = "kubernets"

    start(created_run)

    run = axon.run(created_run)
    assert run["status"] == "failed"
    failed = run["conditions"][-1]
    assert failed["reason"] == "SubmitFailed"
    assert "no runner 'kubernets'" in failed["message"]


# -- queues with a concurrency limit ---------------------------------------------------------------


def on_queue(name: str) -> dict:
    """The operation, sent to the runner's queue `name`."""
    queued = operation()
    queued["component"]["queue"] = name
    return queued


@pytest.fixture
def queue_room(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """The local runner, given named queues: `room[name]` says whether that queue has room."""
    room: dict[str, bool] = {}
    monkeypatch.setattr(
        LocalRunner, "has_capacity", lambda self, queue: room.get(queue, True), raising=False
    )
    return room


def test_a_run_whose_queue_is_full_stays_queued_and_says_why_once(
    axon, submitted, start, queue_room, caplog
):
    axon.create_project()
    axon.subscribe(operation=on_queue("gpu"))
    [run_id] = axon.push()
    queue_room["gpu"] = False

    with caplog.at_level(logging.INFO, logger="ci.runs.capacity"):
        start(run_id)
        start(run_id)  # the sweeper sends it again

    run = axon.run(run_id)
    assert history(run) == ["created", "compiled", "queued"]
    assert run["conditions"][-1]["message"] == (
        "runner local; queue 'gpu' is full: the run starts when one of its runs ends"
    )
    assert submitted == []
    assert len([r for r in caplog.records if "stays queued" in r.message]) == 1

    queue_room["gpu"] = True
    start(run_id)

    assert history(axon.run(run_id)) == ["created", "compiled", "queued", "scheduled"]
    assert len(submitted) == 1


def test_a_run_that_ends_sends_the_start_of_the_oldest_queued_runs_of_its_queue(
    rt, db, axon, enqueued, start, queue_room
):
    axon.create_project()
    axon.subscribe(operation=on_queue("gpu"))
    [first] = axon.push()
    [second] = axon.push()
    [third] = axon.push()
    start(first)
    queue_room["gpu"] = False
    start(second)
    start(third)
    enqueued.clear()

    advance(db, first, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED)

    starts = [args for name, args in enqueued if name == "axon.start_run"]
    assert starts == [(second,), (third,)]
