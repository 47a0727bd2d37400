"""The agent: what the runner observes becomes the run's status history, news only, logs kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ci import agent, launch
from ci.models import Run
from runners.base import Observation
from schemas.status import RunStatus
from tests.ci.conftest import observed_to_end, observed_until, operation

SLEEP = "import time; time.sleep(30)"


@pytest.fixture
def scheduled(axon, start):
    """Start a run whose job runs `code` on the local runner; (run id, external id)."""

    def make(code: str = "print('training')") -> tuple[int, str]:
        axon.create_project()
        axon.subscribe(operation=operation(code=code))
        [run_id] = axon.push()
        start(run_id)
        return run_id, axon.run(run_id)["external_id"]

    return make


def stored(db, run_id) -> Run:
    with db.session() as session:
        return session.get(Run, run_id)


def test_each_observation_that_is_news_becomes_a_transition_with_the_runners_words(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled()
    observations = observed_to_end(local_runner, external_id)
    assert [o.status for o in observations] == ["starting", "running", "succeeded"]

    applied = [agent.apply(rt, local_runner, o) for o in observations]

    assert applied == [True, True, True]
    run = axon.run(run_id)
    assert run["status"] == "succeeded"
    recorded = [(c["status"], c["reason"], c["message"], c["at"]) for c in run["conditions"][-3:]]
    assert recorded == [
        (o.status, o.reason, o.message, o.at.astimezone(UTC).isoformat()) for o in observations
    ]
    assert run["started_at"] == observations[1].at.astimezone(UTC).isoformat()
    assert run["finished_at"] == observations[2].at.astimezone(UTC).isoformat()


def test_a_repeated_observation_is_ignored(rt, axon, scheduled, local_runner):
    run_id, external_id = scheduled()
    observations = observed_to_end(local_runner, external_id)
    for observation in observations:
        agent.apply(rt, local_runner, observation)
    before = axon.run(run_id)["conditions"]

    # A restarted observer sees the run's whole history again.
    again = [agent.apply(rt, local_runner, o) for o in observed_to_end(local_runner, external_id)]

    assert again == [False, False, False]
    assert axon.run(run_id)["conditions"] == before


def test_the_same_status_twice_is_recorded_once(rt, axon, scheduled, local_runner):
    run_id, external_id = scheduled(SLEEP)
    running = Observation(
        external_id, RunStatus.RUNNING, "", "command started", datetime(2024, 5, 6, tzinfo=UTC)
    )

    assert agent.apply(rt, local_runner, running) is True
    assert agent.apply(rt, local_runner, running) is False

    history = [c["status"] for c in axon.run(run_id)["conditions"]]
    assert history.count("running") == 1


def test_a_late_running_after_a_stop_request_is_ignored_until_the_job_ends_stopped(
    rt, db, axon, client, scheduled, local_runner
):
    run_id, external_id = scheduled(SLEEP)
    started = observed_until(local_runner, external_id, {RunStatus.RUNNING})
    uuid = axon.run(run_id)["uuid"]
    assert client.post(f"/api/v1/runs/{uuid}/stop").json["status"] == "stopping"

    late = [agent.apply(rt, local_runner, o) for o in started]

    assert late == [False, False]
    assert axon.run(run_id)["status"] == "stopping"
    with db.session() as session:
        launch.stop_run(rt, session, run_id)
    ended = observed_to_end(local_runner, external_id)
    assert agent.apply(rt, local_runner, ended[-1]) is True
    run = axon.run(run_id)
    assert run["status"] == "stopped"
    assert [c["status"] for c in run["conditions"]][-2:] == ["stopping", "stopped"]


def test_on_a_final_status_the_runners_logs_are_kept_on_the_run(
    rt, db, axon, client, scheduled, local_runner
):
    run_id, external_id = scheduled("print('epoch 1: loss 0.25')")
    *progress, final = observed_to_end(local_runner, external_id)
    for observation in progress:
        agent.apply(rt, local_runner, observation)
    assert stored(db, run_id).logs is None

    agent.apply(rt, local_runner, final)

    logs = stored(db, run_id).logs
    assert "epoch 1: loss 0.25" in logs
    assert logs == local_runner.logs(external_id)
    response = client.get(f"/api/v1/runs/{axon.run(run_id)['uuid']}/logs")
    assert response.text == logs
    assert response.headers["X-Axon-Run-Done"] == "true"


def test_an_observation_of_an_unknown_external_id_is_ignored(rt, db, axon, scheduled, local_runner):
    run_id, _ = scheduled()
    stranger = Observation("f" * 32, RunStatus.FAILED, "Error", "exit code 1")

    assert agent.apply(rt, local_runner, stranger) is False
    assert axon.run(run_id)["status"] == "scheduled"


def test_a_job_whose_output_holds_a_nul_byte_still_ends_and_keeps_its_logs(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled("import sys; sys.stdout.write('loss\\x000.25\\n')")
    observations = observed_to_end(local_runner, external_id)

    for observation in observations:
        agent.apply(rt, local_runner, observation)

    assert axon.run(run_id)["status"] == "succeeded"
    assert "loss" in stored(db, run_id).logs
