"""The agent: what the runner observes becomes the run's status history, news only, logs kept."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from ci.agent import recording
from ci.agent.lanes import Held, Lanes, lane_of
from ci.agent.logs_follow import LogFollowers
from ci.runs import launch
from ci.store.models import Run
from runners.base import Observation
from schemas.status import RunStatus
from tests.ci.conftest import observed_to_end, observed_until, operation
from tests.waiting import wait_for

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


def stored_subscription(db, run_id) -> str:
    with db.session() as session:
        return session.get(Run, run_id).subscription.name


def test_each_observation_that_is_news_becomes_a_transition_with_the_runners_words(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled()
    observations = observed_to_end(local_runner, external_id)
    assert [o.status for o in observations] == ["starting", "running", "succeeded"]

    applied = [recording.apply(rt, local_runner, o) for o in observations]

    assert applied == [True, True, True]
    run = axon.run(run_id)
    assert run["status"] == "succeeded"
    recorded = [(c["status"], c["reason"], c["message"], c["at"]) for c in run["conditions"][-3:]]
    # A transition is never timestamped before the one recorded ahead of it: a supervisor may
    # start before the worker that submitted it has recorded `scheduled`.
    scheduled_at = run["conditions"][-4]["at"]
    assert recorded == [
        (o.status, o.reason, o.message, max(o.at.astimezone(UTC).isoformat(), scheduled_at))
        for o in observations
    ]
    assert run["started_at"] == observations[1].at.astimezone(UTC).isoformat()
    assert run["finished_at"] == observations[2].at.astimezone(UTC).isoformat()


def test_a_repeated_observation_is_ignored(rt, axon, scheduled, local_runner):
    run_id, external_id = scheduled()
    observations = observed_to_end(local_runner, external_id)
    for observation in observations:
        recording.apply(rt, local_runner, observation)
    before = axon.run(run_id)["conditions"]

    # A restarted observer sees the run's whole history again.
    again = [
        recording.apply(rt, local_runner, o) for o in observed_to_end(local_runner, external_id)
    ]

    assert again == [False, False, False]
    assert axon.run(run_id)["conditions"] == before


def test_the_same_status_twice_is_recorded_once(rt, axon, scheduled, local_runner):
    run_id, external_id = scheduled(SLEEP)
    running = Observation(
        external_id, RunStatus.RUNNING, "", "command started", datetime(2024, 5, 6, tzinfo=UTC)
    )

    assert recording.apply(rt, local_runner, running) is True
    assert recording.apply(rt, local_runner, running) is False

    history = [c["status"] for c in axon.run(run_id)["conditions"]]
    assert history.count("running") == 1


def test_a_late_running_after_a_stop_request_is_ignored_until_the_job_ends_stopped(
    rt, db, axon, client, scheduled, local_runner
):
    run_id, external_id = scheduled(SLEEP)
    started = observed_until(local_runner, external_id, {RunStatus.RUNNING})
    uuid = axon.run(run_id)["uuid"]
    assert client.post(f"/api/v1/runs/{uuid}/stop").json["status"] == "stopping"

    late = [recording.apply(rt, local_runner, o) for o in started]

    assert late == [False, False]
    assert axon.run(run_id)["status"] == "stopping"
    with db.session() as session:
        launch.stop_run(rt, session, run_id)
    ended = observed_to_end(local_runner, external_id)
    assert recording.apply(rt, local_runner, ended[-1]) is True
    run = axon.run(run_id)
    assert run["status"] == "stopped"
    assert [c["status"] for c in run["conditions"]][-2:] == ["stopping", "stopped"]


def test_on_a_final_status_the_runners_logs_are_kept_on_the_run(
    rt, db, axon, client, scheduled, local_runner
):
    run_id, external_id = scheduled("print('epoch 1: loss 0.25')")
    *progress, final = observed_to_end(local_runner, external_id)
    for observation in progress:
        recording.apply(rt, local_runner, observation)
    assert stored(db, run_id).logs is None

    recording.apply(rt, local_runner, final)

    logs = stored(db, run_id).logs
    assert "epoch 1: loss 0.25" in logs
    assert logs == local_runner.logs(external_id)
    response = client.get(f"/api/v1/runs/{axon.run(run_id)['uuid']}/logs")
    assert response.text == logs
    assert response.headers["X-Axon-Run-Done"] == "true"


def test_an_observation_of_an_unknown_external_id_is_ignored(rt, db, axon, scheduled, local_runner):
    run_id, _ = scheduled()
    stranger = Observation("f" * 32, RunStatus.FAILED, "Error", "exit code 1")

    assert recording.apply(rt, local_runner, stranger) is False
    assert axon.run(run_id)["status"] == "scheduled"


def test_a_job_whose_output_holds_a_nul_byte_still_ends_and_keeps_its_logs(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled("import sys; sys.stdout.write('loss\\x000.25\\n')")
    observations = observed_to_end(local_runner, external_id)

    for observation in observations:
        recording.apply(rt, local_runner, observation)

    assert axon.run(run_id)["status"] == "succeeded"
    assert "loss" in stored(db, run_id).logs


# -- reconciling on start: runs whose objects are gone ------------------------------------------


class Forgetful:
    """The local runner, but holding none of its runs any more (as after a cluster wipe)."""

    def __init__(self, runner):
        self._runner = runner
        self.name = runner.name

    def known_ids(self) -> set[str]:
        return set()

    def __getattr__(self, name):
        return getattr(self._runner, name)


def test_a_run_whose_object_is_gone_fails_as_missing_on_reconcile(
    rt, axon, scheduled, local_runner
):
    run_id, external_id = scheduled(SLEEP)

    ended = recording.reconcile(rt, Forgetful(local_runner))

    assert ended == [external_id]
    run = axon.run(run_id)
    missing = run["conditions"][-1]
    assert (run["status"], missing["reason"]) == ("failed", "Missing")
    assert missing["message"] == (
        f"{external_id} is no longer on the local runner: "
        "it was deleted while no agent was watching"
    )


def test_a_stopping_run_whose_object_is_gone_is_stopped_on_reconcile(
    rt, axon, client, scheduled, local_runner
):
    run_id, _ = scheduled(SLEEP)
    client.post(f"/api/v1/runs/{axon.run(run_id)['uuid']}/stop")

    recording.reconcile(rt, Forgetful(local_runner))

    run = axon.run(run_id)
    assert [c["status"] for c in run["conditions"]][-2:] == ["stopping", "stopped"]


def test_a_run_still_on_the_runner_is_left_alone_and_a_runner_that_cannot_list_is_skipped(
    rt, axon, scheduled, local_runner
):
    run_id, external_id = scheduled(SLEEP)
    holding = Forgetful(local_runner)
    holding.known_ids = lambda: {external_id}

    assert recording.reconcile(rt, holding) == []
    assert recording.reconcile(rt, local_runner) == []  # the local runner has no known_ids()
    assert axon.run(run_id)["status"] == "scheduled"


# -- observations that arrive before the run's id is stored --------------------------------------


def test_an_observation_of_a_run_not_stored_yet_is_held_and_applied_in_order(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled(SLEEP)
    with db.session() as session:
        session.get(Run, run_id).external_id = None  # the submit's commit has not landed yet
    at = datetime(2024, 5, 6, tzinfo=UTC)
    held = Held()
    early = Observation(external_id, RunStatus.STARTING, "Created", "", at)

    [(since, first)] = held.add(early)
    assert recording.apply(rt, local_runner, first) is False
    held.keep(since, first)
    with db.session() as session:
        session.get(Run, run_id).external_id = external_id
    later = Observation(external_id, RunStatus.RUNNING, "Running", "", at)
    applied = [recording.apply(rt, local_runner, o) for _, o in held.add(later)]

    assert applied == [True, True]
    history = [c["status"] for c in axon.run(run_id)["conditions"]]
    assert history[-2:] == ["starting", "running"]


def test_a_held_observation_is_dropped_after_a_while():
    held = Held(seconds=0)
    held.keep(0.0, Observation("nobody", RunStatus.STARTING))

    assert held.add(None) == []


# -- applying many runs at once -----------------------------------------------------------------


def test_each_runs_observations_stay_in_order_while_other_runs_are_applied_alongside(
    monkeypatch,
):
    stuck = "default/jobs/axon-stuck"
    other = next(
        f"default/jobs/axon-{i}"
        for i in range(100)
        if lane_of(f"default/jobs/axon-{i}") != lane_of(stuck)
    )
    release = threading.Event()
    applied: list[tuple[str, RunStatus]] = []

    def record(rt, runner, observations, let_go=None):
        for observation in observations:
            if observation.external_id == stuck and observation.status == RunStatus.STARTING:
                assert release.wait(10)  # a slow commit, say
            applied.append((observation.external_id, observation.status))
        return [True] * len(observations)

    monkeypatch.setattr(recording, "record", record)
    lanes = Lanes(rt=None, runner=None)
    life = [RunStatus.STARTING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    for status in life:
        lanes.put(Observation(stuck, status))
        lanes.put(Observation(other, status))

    wait_for(lambda: len(applied) == 3)
    assert applied == [(other, status) for status in life]  # not waiting for the stuck run
    release.set()
    wait_for(lanes.idle)
    lanes.close()
    assert [status for run, status in applied if run == stuck] == life


def test_a_held_end_is_recorded_soon_after_its_run_is_known_though_nothing_else_arrives(
    monkeypatch,
):
    known = threading.Event()
    recorded: list[str] = []

    def record(rt, runner, observations, let_go=None):
        if not known.is_set():
            return [None] * len(observations)  # the submit's commit has not landed yet
        recorded.append(observations[0].external_id)
        return [True] * len(observations)

    monkeypatch.setattr(recording, "record", record)
    lanes = Lanes(rt=None, runner=None, count=1)
    lanes.put(Observation("default/jobs/axon-last", RunStatus.SUCCEEDED))
    wait_for(lanes.idle)  # tried, and held
    known.set()

    # No news and no tick of the watch (lanes.put(None)) comes: the lane tries it again itself.
    wait_for(lambda: recorded)
    lanes.close()
    assert len(recorded) == 1


class SlowLogs:
    """The local runner, whose logs() answer only when the test says so."""

    def __init__(self, runner, db):
        self._runner, self.name, self.db = runner, runner.name, db
        self.reading, self.answer = threading.Event(), threading.Event()
        self.in_transaction: bool | None = None

    def logs(self, external_id):
        # The test's sessions are savepoints of one connection: one is open inside a session.
        self.in_transaction = self.db.sessions.kw["bind"].in_nested_transaction()
        self.reading.set()
        assert self.answer.wait(10)
        return self._runner.logs(external_id)

    def __getattr__(self, name):
        return getattr(self._runner, name)


def test_a_finished_runs_logs_are_read_outside_its_transaction_and_hold_up_no_other_run(
    rt, db, axon, start, local_runner
):
    axon.create_project()
    axon.subscribe(name="quick", operation=operation(code="print('epoch 1')"))
    axon.subscribe(name="slow", operation=operation(code=SLEEP))
    by_subscription = {stored_subscription(db, run_id): run_id for run_id in axon.push()}
    quick_id, slow_id = by_subscription["quick"], by_subscription["slow"]
    start(quick_id)
    start(slow_id)
    quick, slow = (axon.run(i)["external_id"] for i in (quick_id, slow_id))
    *progress, final = observed_to_end(local_runner, quick)
    for observation in progress:
        recording.apply(rt, local_runner, observation)
    runner = SlowLogs(local_runner, db)
    ending = threading.Thread(target=recording.apply, args=(rt, runner, final))
    ending.start()
    assert runner.reading.wait(10)

    started = [
        recording.apply(rt, runner, o) for o in observed_until(local_runner, slow, {"running"})
    ]

    assert started == [True, True]
    assert axon.run(slow_id)["status"] == "running"
    assert axon.run(quick_id)["status"] == "running"  # its logs are still being read
    runner.answer.set()
    ending.join(10)
    assert runner.in_transaction is False
    assert axon.run(quick_id)["status"] == "succeeded"
    assert "epoch 1" in stored(db, quick_id).logs


# -- logs followed while a run runs ---------------------------------------------------------------


class Following:
    """The local runner, with lines to follow that the test releases one batch at a time."""

    def __init__(self, runner, batches):
        self._runner, self.name = runner, runner.name
        self.batches = batches
        self.release = threading.Semaphore(0)

    def follow_logs(self, external_id, stop):
        for batch in self.batches:
            self.release.acquire()
            yield from batch

    def __getattr__(self, name):
        return getattr(self._runner, name)


def test_logs_are_stored_while_the_run_runs_and_a_new_follower_does_not_repeat_them(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled(SLEEP)
    stop = threading.Event()
    runner = Following(local_runner, [["epoch 1", "loss\x000.5"], ["epoch 2"]])
    followers = LogFollowers(rt, runner, stop, flush_seconds=3600)

    assert followers.follow(external_id) is True
    assert followers.follow(external_id) is False  # one follower per run
    runner.release.release()
    wait_for(lambda: followers._followed[external_id].pending)
    followers.flush()
    assert stored(db, run_id).logs == "epoch 1\nloss\ufffd0.5\n"
    runner.release.release()
    wait_for(lambda: followers._followed[external_id].ended)
    followers.flush()
    assert stored(db, run_id).logs == "epoch 1\nloss\ufffd0.5\nepoch 2\n"
    assert followers.following() == []

    # A restarted agent follows from the start again: what it reads replaces what was stored.
    again = Following(local_runner, [["epoch 1"]])
    restarted = LogFollowers(rt, again, stop, flush_seconds=3600)
    restarted.follow(external_id)
    again.release.release()
    wait_for(lambda: restarted._followed[external_id].ended)
    restarted.flush()
    assert stored(db, run_id).logs == "epoch 1\n"
    stop.set()


def test_a_done_runs_logs_are_not_overwritten_by_a_late_follower(
    rt, db, axon, scheduled, local_runner
):
    run_id, external_id = scheduled()
    for observation in observed_to_end(local_runner, external_id):
        recording.apply(rt, local_runner, observation)
    final = stored(db, run_id).logs
    runner = Following(local_runner, [["late line"]])
    followers = LogFollowers(rt, runner, threading.Event(), flush_seconds=3600)

    followers.follow(external_id)
    runner.release.release()
    wait_for(lambda: followers._followed[external_id].ended)
    followers.flush()

    assert stored(db, run_id).logs == final
