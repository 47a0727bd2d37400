"""A turn of the watch: many runs' observations recorded in one transaction, each run's in order,
with one run's failure losing no other run's news."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from ci.agent import recording
from ci.agent.lanes import Lanes
from ci.runs import lifecycle
from runners.base import Observation
from schemas.status import RunStatus
from tests.ci.conftest import operation
from tests.waiting import wait_for

S = RunStatus
# Later than the runs' `scheduled`: no transition is timestamped before the one it follows.
AT = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


@pytest.fixture
def three_runs(axon, start) -> list[tuple[int, str]]:
    """Three runs submitted to the local runner, each `scheduled`: (run id, external id)."""
    axon.create_project()
    for name in ("alpha", "beta", "gamma"):
        axon.subscribe(name=name, operation=operation(code=f"print('{name}')"))
    runs = []
    for run_id in sorted(axon.push()):
        start(run_id)
        runs.append((run_id, axon.run(run_id)["external_id"]))
    return runs


@pytest.fixture
def commits() -> Iterator[list[Session]]:
    """Every session that commits during the test."""
    committed: list[Session] = []

    def note(session: Session) -> None:
        committed.append(session)

    event.listen(Session, "after_commit", note)
    yield committed
    event.remove(Session, "after_commit", note)


@pytest.fixture
def reacted(monkeypatch) -> dict[str, list[tuple[int, RunStatus]]]:
    """What the reactions to transitions were called with: `each` is called for every move,
    `once` (a once-per-run reaction) for each run's last move in a transaction."""
    calls: dict[str, list[tuple[int, RunStatus]]] = {"each": [], "once": []}

    def reaction(name: str) -> Callable[[int, RunStatus], None]:
        return lambda run_id, status: calls[name].append((run_id, status))

    each, once = reaction("each"), reaction("once")
    monkeypatch.setattr(lifecycle, "reactions", [each, once])
    monkeypatch.setattr(lifecycle, "once_per_run", {once})
    return calls


def seen(external_id: str, status: RunStatus, minute: int, message: str = "") -> Observation:
    return Observation(external_id, status, "", message, AT + timedelta(minutes=minute))


def history(axon, run_id: int) -> list[tuple[str, str]]:
    """The run's conditions after `scheduled`: (status, time)."""
    conditions = axon.run(run_id)["conditions"]
    statuses = [c["status"] for c in conditions]
    return [(c["status"], c["at"]) for c in conditions[statuses.index("scheduled") + 1 :]]


def test_a_turn_of_three_runs_records_each_runs_statuses_in_order_in_one_commit(
    rt, axon, local_runner, three_runs, commits, reacted
):
    (a, alpha), (b, beta), (c, gamma) = three_runs
    # Between two looks alpha started, ran and ended; beta was first seen running; gamma ended.
    turn = [
        seen(alpha, S.STARTING, 1),
        seen(beta, S.RUNNING, 1),
        seen(alpha, S.RUNNING, 2),
        seen(gamma, S.SUCCEEDED, 3),
        seen(beta, S.SUCCEEDED, 3),
        seen(alpha, S.SUCCEEDED, 4),
    ]
    commits.clear()

    recorded = recording.record(rt, local_runner, turn)

    assert recorded == [True] * 6
    assert len(commits) == 1
    at = {minute: (AT + timedelta(minutes=minute)).isoformat() for minute in range(5)}
    assert history(axon, a) == [("starting", at[1]), ("running", at[2]), ("succeeded", at[4])]
    assert history(axon, b) == [("running", at[1]), ("succeeded", at[3])]
    assert history(axon, c) == [("succeeded", at[3])]
    moves = [(a, S.STARTING), (a, S.RUNNING), (a, S.SUCCEEDED)]
    moves += [(b, S.RUNNING), (b, S.SUCCEEDED), (c, S.SUCCEEDED)]
    assert sorted(reacted["each"]) == sorted(moves)
    assert [s for run, s in reacted["each"] if run == a] == [s for run, s in moves if run == a]
    assert sorted(reacted["once"]) == [(a, S.SUCCEEDED), (b, S.SUCCEEDED), (c, S.SUCCEEDED)]


def test_news_already_recorded_and_news_the_table_forbids_are_not_recorded_again(
    rt, axon, local_runner, three_runs, reacted
):
    (a, alpha), (b, beta), _ = three_runs
    recording.record(rt, local_runner, [seen(alpha, S.RUNNING, 1), seen(beta, S.SUCCEEDED, 1)])
    reacted["each"].clear()

    again = [seen(alpha, S.RUNNING, 2), seen(beta, S.RUNNING, 2), seen(alpha, S.SUCCEEDED, 3)]
    recorded = recording.record(rt, local_runner, again)

    assert recorded == [False, False, True]
    assert reacted["each"] == [(a, S.SUCCEEDED)]
    assert [status for status, _ in history(axon, b)] == ["succeeded"]


def test_a_poisoned_observation_leaves_the_other_runs_recorded_and_is_raised_after(
    rt, axon, local_runner, three_runs, reacted
):
    (a, alpha), (b, beta), (c, gamma) = three_runs
    # PostgreSQL refuses a NUL in text: this observation can never be stored.
    poisoned = seen(beta, S.RUNNING, 1, message="exit\x00")
    turn = [seen(alpha, S.RUNNING, 1), poisoned, seen(gamma, S.SUCCEEDED, 2)]

    with pytest.raises(ValueError, match="NUL"):
        recording.record(rt, local_runner, turn)

    assert [status for status, _ in history(axon, a)] == ["running"]
    assert [status for status, _ in history(axon, c)] == ["succeeded"]
    assert axon.run(b)["status"] == "scheduled"
    assert sorted(reacted["each"]) == [(a, S.RUNNING), (c, S.SUCCEEDED)]


def test_an_observation_of_a_run_not_stored_yet_is_told_apart_from_the_news_beside_it(
    rt, axon, local_runner, three_runs
):
    (a, alpha), _, _ = three_runs

    recorded = recording.record(
        rt, local_runner, [seen("f" * 32, S.RUNNING, 1), seen(alpha, S.RUNNING, 1)]
    )

    assert recorded == [None, True]
    assert axon.run(a)["status"] == "running"


def test_what_queues_up_on_a_lane_while_it_records_is_recorded_next_in_one_turn(monkeypatch):
    release = threading.Event()
    turns: list[list[tuple[str, RunStatus]]] = []

    def record(rt, runner, observations, let_go=None):
        turns.append([(o.external_id, o.status) for o in observations])
        assert release.wait(10)  # a slow commit, say
        return [True] * len(observations)

    monkeypatch.setattr(recording, "record", record)
    lanes = Lanes(rt=None, runner=None, count=1)
    lanes.put(Observation("job-1", S.STARTING))
    wait_for(lambda: len(turns) == 1)
    later = [("job-2", S.STARTING), ("job-1", S.RUNNING), ("job-2", S.RUNNING)]
    for external_id, status in later:
        lanes.put(Observation(external_id, status))

    release.set()
    wait_for(lanes.idle)
    lanes.close()

    assert turns == [[("job-1", S.STARTING)], later]


def test_a_turn_reads_its_runs_rows_twice_at_most_and_never_their_documents(
    rt, db, local_runner, three_runs, reacted
):
    (_, alpha), (_, beta), (_, gamma) = three_runs
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        recording.record(
            rt,
            local_runner,
            [seen(alpha, S.RUNNING, 1), seen(beta, S.SUCCEEDED, 1), seen(gamma, S.FAILED, 1)],
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", note)

    reads = [s for s in statements if s.lstrip().startswith("SELECT") and "FROM runs" in s]
    assert len(reads) == 2  # whether the ends are news (before reading logs), then the lock
    assert not [s for s in reads if "runs.spec" in s or "runs.event," in s]
