"""A delivery's task starts the run it made itself, with no start message between; a worker lost
on the way leaves the start to the task's redelivery, and a runner out of reach to the start
task's retries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from ci import tasks
from ci.runs import dispatch, launch
from ci.store.db import Database
from ci.store.models import Delivery, Run
from runners.base import RunnerUnavailable
from runners.local import LocalRunner


class WorkerLost(BaseException):
    """The worker's process ending mid-task: nothing after it in the task runs."""


def runs(db: Database) -> list[tuple[int, str]]:
    with db.session() as session:
        return [(r.id, r.status) for r in session.scalars(select(Run).order_by(Run.id))]


def start_messages(enqueued: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    return [args for name, args in enqueued if name == tasks.start_run.name]


def test_a_delivery_task_submits_its_run_without_sending_a_start_message(
    axon, db, rt, enqueued, submitted
):
    axon.create_project()
    axon.subscribe()
    delivery_id = axon.deliver_push()

    tasks.process_delivery(delivery_id)

    [(run_id, status)] = runs(db)
    assert status == "scheduled"
    assert [spec.name for spec in submitted] == ["train"]
    assert start_messages(enqueued) == []
    with db.session() as session:
        assert session.get(Delivery, delivery_id).status == "processed"


def test_a_worker_lost_while_starting_the_run_leaves_it_to_the_redelivered_task(
    axon, db, rt, enqueued, submitted, monkeypatch
):
    axon.create_project()
    axon.subscribe()
    delivery_id = axon.deliver_push()
    real_start, tries = launch.start_run, []

    def lost_the_first_time(*args: Any) -> None:
        tries.append(args)
        if len(tries) == 1:
            raise WorkerLost
        real_start(*args)

    monkeypatch.setattr(launch, "start_run", lost_the_first_time)

    with pytest.raises(WorkerLost):
        tasks.process_delivery(delivery_id)
    [(run_id, status)] = runs(db)
    assert status == "created"

    # Its message was not acknowledged: the broker hands it to another worker.
    tasks.process_delivery(delivery_id)

    assert runs(db) == [(run_id, "scheduled")]
    assert len(submitted) == 1
    assert start_messages(enqueued) == []


def test_a_runner_out_of_reach_hands_the_start_to_the_start_task(
    axon, db, rt, enqueued, submitted, monkeypatch
):
    axon.create_project()
    axon.subscribe()
    delivery_id = axon.deliver_push()
    reachable = LocalRunner.submit

    def unreachable(self: LocalRunner, spec: Any) -> str:
        raise RunnerUnavailable("the launcher does not answer")

    monkeypatch.setattr(LocalRunner, "submit", unreachable)

    tasks.process_delivery(delivery_id)

    [(run_id, status)] = runs(db)
    assert status == "created"  # nothing of the start was committed
    assert start_messages(enqueued) == [(run_id,)]

    monkeypatch.setattr(LocalRunner, "submit", reachable)
    tasks.start_run(run_id)  # its message, once the runner is back

    assert runs(db) == [(run_id, "scheduled")]
    assert len(submitted) == 1


def test_of_a_delivery_with_two_runs_the_first_starts_here_and_the_other_in_its_start_task(
    axon, db, rt, enqueued, submitted
):
    axon.create_project()
    axon.subscribe()
    axon.subscribe(name="evaluate-on-master")
    delivery_id = axon.deliver_push()

    tasks.process_delivery(delivery_id)

    [(first, first_status), (second, second_status)] = runs(db)
    assert (first_status, second_status) == ("scheduled", "created")
    assert start_messages(enqueued) == [(second,)]
    assert len(submitted) == 1


def test_starting_a_pushs_run_reads_what_it_needs_with_its_lock_and_writes_its_statuses_at_once(
    axon, db, rt, enqueued, submitted, start
):
    axon.create_project()
    axon.subscribe()
    [run_id] = axon.push()
    said: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        said.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        start(run_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)

    [locking] = [s for s in said if re.search(r"^SELECT .* FROM runs\b", s)]
    assert " JOIN subscriptions " in locking and locking.endswith("FOR UPDATE OF runs")
    assert [s for s in said if re.search(r"^SELECT .* FROM subscriptions\b", s)] == []
    assert " FROM profile_versions " in locking
    assert [s for s in said if "profile_versions" in s and s != locking] == []
    assert len([s for s in said if s.startswith("UPDATE runs SET status")]) == 1
    assert len([s for s in said if s.startswith("INSERT INTO conditions")]) == 1
    assert runs(db) == [(run_id, "scheduled")]
    assert [spec.git for spec in submitted] == [None]  # the subscription's `checkout: false`


def test_a_relay_message_processes_each_of_its_deliveries_and_one_that_must_wait_gets_its_own_task(
    axon, db, rt, enqueued, submitted, monkeypatch
):
    axon.create_project()
    axon.subscribe()
    ready, database_away, broken = (axon.deliver_push() for _ in range(3))
    real_process = dispatch.process_delivery

    def flaky(session: Any, delivery_id: int, runner: str) -> list[int]:
        if delivery_id == database_away:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        if delivery_id == broken:
            raise ValueError("no such thing")
        return real_process(session, delivery_id, runner)

    monkeypatch.setattr(dispatch, "process_delivery", flaky)
    tasks.process_deliveries([ready, database_away, broken])

    assert statuses(db) == {ready: "processed", database_away: "received", broken: "failed"}
    assert [status for _, status in runs(db)] == ["scheduled"]
    # Retried by a task of its own, which backs off on its own; the broken one is not retried.
    assert [m for m in enqueued if m[0] == tasks.process_delivery.name] == [
        (tasks.process_delivery.name, (database_away,))
    ]
    monkeypatch.setattr(dispatch, "process_delivery", real_process)
    tasks.process_delivery(database_away)

    assert statuses(db)[database_away] == "processed"
    assert [status for _, status in runs(db)] == ["scheduled", "scheduled"]


def statuses(db: Database) -> dict[int, str]:
    with db.session() as session:
        return {d.id: d.status for d in session.scalars(select(Delivery))}
