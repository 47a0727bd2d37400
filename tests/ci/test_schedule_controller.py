"""An operation's own `schedule:`: a controller run whose children are the runs its slots fire,
each slot exactly once, with Polyaxon's maxRuns, endAt and dependsOnPast, and its stop."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ci.config import Settings
from ci.runs import approval, launch, lifecycle, tree
from ci.runtime import Runtime
from ci.schedules import controller, firing
from ci.store.db import Database
from ci.store.models import Condition, Project, Run, ScheduleFire
from ci.store.models import Schedule as ScheduleRow
from schemas.status import RunStatus
from tests.ci.conftest import advance
from tests.conftest import drop_database, fresh_database

S = RunStatus
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def scheduled_operation(schedule: dict[str, Any]) -> dict[str, Any]:
    """A job printing the slot it was fired for, run on `schedule`."""
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "nightly",
        "schedule": schedule,
        "component": {
            "version": 1.1,
            "kind": "component",
            "run": {
                "kind": "job",
                "container": {
                    "image": "python:3.11",
                    "command": [sys.executable, "-c", "print('slot')"],
                    "args": ["{{ globals.schedule_at }}"],
                },
            },
        },
    }


def create(db: Database, schedule: dict[str, Any]) -> int:
    """A created run of the scheduled operation, as a run started by hand is; its id."""
    with db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        if project is None:
            project = Project(name="vision")
            session.add(project)
            session.flush()
        run = Run(project_id=project.id, name="nightly", spec=scheduled_operation(schedule))
        lifecycle.create(session, run, "ManualRun", "")
        session.flush()
        return run.id


def start_at(rt: Runtime, run_id: int, now: datetime = T0) -> None:
    """What axon.start_run does to the run, at `now`: compile it, then start its schedule."""
    with rt.db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        assert run is not None
        launch.compile_run(rt, session, run)
        controller.start(rt, session, run, now)


def scheduled(rt: Runtime, schedule: dict[str, Any], now: datetime = T0) -> int:
    run_id = create(rt.db, schedule)
    start_at(rt, run_id, now)
    return run_id


def children(db: Database, run_id: int) -> list[dict[str, Any]]:
    with db.session() as session:
        return controller.children(session, run_id)


def slots(db: Database, run_id: int) -> list[str]:
    return [child["op_name"] for child in children(db, run_id)]


def row_of(db: Database, run_id: int) -> ScheduleRow:
    with db.session() as session:
        row = controller.schedule_of(session, run_id)
        assert row is not None
        return row


def run_of(db: Database, run_id: int) -> Run:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def last_condition(db: Database, run_id: int) -> tuple[str, str, str]:
    with db.session() as session:
        found = session.scalars(
            select(Condition).where(Condition.run_id == run_id).order_by(Condition.id.desc())
        ).first()
        assert found is not None
        return found.status, found.reason, found.message


def settle(rt: Runtime, run_id: int) -> None:
    """What axon.advance_pipeline does for a schedule controller."""
    with rt.db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        assert run is not None
        controller.advance(session, run)


def finish(rt: Runtime, child_id: int, status: RunStatus) -> None:
    """The child runs and ends `status`; its controller hears of it."""
    way = [S.CREATED, S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING]
    now = way.index(RunStatus(run_of(rt.db, child_id).status))
    advance(rt.db, child_id, *way[now + 1 :], status)
    parent_id = run_of(rt.db, child_id).parent_id
    assert parent_id is not None
    settle(rt, parent_id)


def started(enqueued: list[Any], task: str = "axon.start_run") -> list[int]:
    return [args[0] for name, args in enqueued if name == task]


# --- the controller -------------------------------------------------------------------------


def test_a_scheduled_operation_becomes_a_running_controller_and_its_slot_a_child_run(
    rt, enqueued, submitted
):
    run_id = create(rt.db, {"kind": "datetime", "startAt": "2020-01-01T03:00:00Z"})
    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)

    run = run_of(rt.db, run_id)
    assert (run.kind, run.status, run.external_id) == ("schedule", "running", None)
    assert submitted == []  # no runner holds a controller
    row = row_of(rt.db, run_id)
    assert (row.entry, row.subscription_id, row.state) == (0, None, "active")
    # A datetime that has passed fires at once, as Polyaxon starts a run whose time has come.
    assert row.next_slot_at == datetime(2020, 1, 1, 3, tzinfo=UTC)

    counts = firing.tick(rt)

    assert (counts["fired"], counts["deliveries"]) == (1, [])
    [child] = children(rt.db, run_id)
    assert child["op_name"] == "slot-2020-01-01T03:00:00+00:00"
    assert started(enqueued) == [child["id"]]
    assert started(enqueued, "axon.advance_pipeline") == [run_id]
    assert row_of(rt.db, run_id).reason == "its one slot, 2020-01-01T03:00:00+00:00, has passed"

    # The child is the operation without its schedule, fired for its slot.
    with rt.db.session() as session:
        launch.start_run(rt, session, child["id"])
    child_run = run_of(rt.db, child["id"])
    assert (child_run.kind, child_run.status, child_run.parent_id) == ("job", "scheduled", run_id)
    assert "schedule" not in child_run.spec
    [spec] = submitted
    assert spec.command[-1] == "2020-01-01T03:00:00+00:00"  # globals.schedule_at

    finish(rt, child["id"], S.SUCCEEDED)
    status, reason, message = last_condition(rt.db, run_id)
    assert (status, reason) == ("succeeded", "ScheduleDone")
    assert message.startswith("1 fired run(s): 1 succeeded; the schedule ended: its one slot")


def test_a_scheduled_matrix_is_one_controller_whose_fired_runs_are_each_a_matrix(rt, enqueued):
    run_id = create(rt.db, {"kind": "datetime", "startAt": "2020-01-01T03:00:00Z"})
    with rt.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        matrix = {"kind": "grid", "params": {"lr": {"kind": "choice", "value": [0.1, 0.2]}}}
        component = {**run.spec["component"], "inputs": [{"name": "lr", "type": "float"}]}
        run.spec = {**run.spec, "matrix": matrix, "component": component}
    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)
    assert (run_of(rt.db, run_id).kind, run_of(rt.db, run_id).status) == ("schedule", "running")

    firing.tick(rt)
    [child] = children(rt.db, run_id)
    with rt.db.session() as session:
        launch.start_run(rt, session, child["id"])

    fired = run_of(rt.db, child["id"])
    assert (fired.kind, fired.status, "matrix" in fired.spec) == ("matrix", "running", True)
    assert len(children(rt.db, child["id"])) == 2  # its trials


def test_a_cron_schedule_fires_one_child_per_slot_and_nothing_between(rt, enqueued):
    run_id = scheduled(rt, {"kind": "cron", "cron": "*/10 * * * *"})
    assert row_of(rt.db, run_id).next_fire_at == T0 + minutes(10)

    assert firing.tick(rt, T0 + minutes(5))["fired"] == 0
    firing.tick(rt, T0 + minutes(10))
    firing.tick(rt, T0 + minutes(10))  # the same moment again: decided already
    firing.tick(rt, T0 + minutes(21))

    assert slots(rt.db, run_id) == [
        "slot-2026-03-02T08:10:00+00:00",
        "slot-2026-03-02T08:20:00+00:00",
    ]
    assert run_of(rt.db, run_id).status == "running"


def test_after_downtime_only_the_latest_missed_slot_fires_and_the_others_say_why(rt, enqueued):
    run_id = scheduled(rt, {"kind": "interval", "frequency": 600, "startAt": T0.isoformat()})

    counts = firing.tick(rt, T0 + minutes(65))  # the scheduler was down for an hour

    assert (counts["fired"], counts["skipped"]) == (1, 1)
    assert slots(rt.db, run_id) == ["slot-2026-03-02T09:00:00+00:00"]
    with rt.db.session() as session:
        [skipped] = session.scalars(
            select(ScheduleFire.reason).where(ScheduleFire.reason != "fired")
        )
    assert skipped.startswith("missed: 5 slot(s) from 2026-03-02T08:10:00+00:00 to ")
    assert skipped.endswith("catchUp latest fires only the most recent")


def test_a_subscription_whose_operation_has_a_schedule_starts_a_controller_per_event(
    axon, rt, enqueued
):
    axon.create_project()
    schedule = {"kind": "cron", "cron": "0 3 * * *"}
    axon.subscribe(operation={**scheduled_operation(schedule), "name": "nightly"})
    [run_id] = axon.push()

    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)

    shown = axon.run(run_id)
    assert (shown["kind"], shown["status"]) == ("schedule", "running")
    tomorrow = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    firing.tick(rt, tomorrow + timedelta(days=1, seconds=1))
    [child] = children(rt.db, run_id)
    assert run_of(rt.db, child["id"]).event["sha"] == run_of(rt.db, run_id).event["sha"]


def test_max_runs_ends_the_schedule_and_the_controller_once_its_children_are_done(rt, enqueued):
    schedule = {"kind": "interval", "frequency": 600, "startAt": T0.isoformat(), "maxRuns": 2}
    run_id = scheduled(rt, schedule)

    for n in range(1, 5):
        firing.tick(rt, T0 + minutes(10 * n))

    first, second = (child["id"] for child in children(rt.db, run_id))
    row = row_of(rt.db, run_id)
    assert (row.state, row.reason, row.fired_count) == ("ended", "maxRuns 2 reached", 2)
    assert started(enqueued, "axon.advance_pipeline") == [run_id]
    settle(rt, run_id)
    assert run_of(rt.db, run_id).status == "running"  # its children still live

    finish(rt, first, S.SUCCEEDED)
    assert run_of(rt.db, run_id).status == "running"
    finish(rt, second, S.FAILED)
    status, reason, message = last_condition(rt.db, run_id)
    # Polyaxon's pipeline rule: a failed child fails the controller.
    assert (status, reason) == ("failed", "ScheduleDone")
    assert message == "2 fired run(s): 1 failed, 1 succeeded; the schedule ended: maxRuns 2 reached"


def test_end_at_ends_the_schedule_and_a_controller_whose_children_are_done_ends_with_it(
    rt, enqueued
):
    schedule = {"kind": "interval", "frequency": 600, "endAt": (T0 + minutes(25)).isoformat()}
    run_id = scheduled(rt, schedule)
    firing.tick(rt, T0 + minutes(10))
    [child] = children(rt.db, run_id)
    finish(rt, child["id"], S.SUCCEEDED)
    assert run_of(rt.db, run_id).status == "running"  # the schedule goes on

    firing.tick(rt, T0 + minutes(20))
    [_, last] = children(rt.db, run_id)
    finish(rt, last["id"], S.SUCCEEDED)

    # The slot after 08:20 is past endAt: the tick that fired 08:20 ended the schedule.
    row = row_of(rt.db, run_id)
    end_at = (T0 + minutes(25)).isoformat()
    assert (row.state, row.reason) == ("ended", f"no slot left before endAt {end_at}")
    assert run_of(rt.db, run_id).status == "succeeded"


def test_depends_on_past_holds_a_slot_until_the_previous_run_is_done_however_it_ended(rt, enqueued):
    schedule = {"kind": "interval", "frequency": 600, "dependsOnPast": True}
    run_id = scheduled(rt, schedule)
    firing.tick(rt, T0 + minutes(10))
    [first] = children(rt.db, run_id)

    counts = firing.tick(rt, T0 + minutes(20))

    assert (counts["fired"], counts["waiting"]) == (0, 1)
    row = row_of(rt.db, run_id)
    waiting = f"run {first['id']} (slot-2026-03-02T08:10:00+00:00) is created"
    assert row.reason == f"dependsOnPast: waiting for the previous run to be done: {waiting}"
    assert row.next_slot_at == T0 + minutes(20)  # the slot waits; it is not skipped

    finish(rt, first["id"], S.FAILED)  # done, though not succeeded: Polyaxon goes on
    assert row_of(rt.db, run_id).next_fire_at == T0 + minutes(20)  # looked at again at once
    firing.tick(rt, T0 + minutes(21))

    assert slots(rt.db, run_id)[1] == "slot-2026-03-02T08:20:00+00:00"


def test_stopping_the_controller_stops_its_live_children_and_ends_its_schedule(rt, enqueued):
    run_id = scheduled(rt, {"kind": "interval", "frequency": 600})
    firing.tick(rt, T0 + minutes(10))
    firing.tick(rt, T0 + minutes(20))
    first, second = (child["id"] for child in children(rt.db, run_id))
    finish(rt, first, S.SUCCEEDED)
    advance(rt.db, second, S.COMPILED, S.QUEUED, S.SCHEDULED)
    with rt.db.session() as session:
        session.get(Run, second).external_id = "local-2"

    with rt.db.session() as session:
        to_cancel = tree.stop(session, session.get(Run, run_id, with_for_update=True), "by alice")
    settle(rt, run_id)

    assert to_cancel == [second]
    assert run_of(rt.db, run_id).status == "stopping"  # until its child has ended
    assert (row_of(rt.db, run_id).state, row_of(rt.db, run_id).reason) == (
        "ended",
        controller.STOPPED_WHY,
    )
    assert firing.tick(rt, T0 + minutes(30))["fired"] == 0

    advance(rt.db, second, S.STOPPED)
    settle(rt, run_id)
    assert last_condition(rt.db, run_id)[:2] == ("stopped", "StopRequested")
    assert len(children(rt.db, run_id)) == 2


def test_a_controller_stopped_with_no_live_child_fires_nothing_at_its_next_slot(rt, enqueued):
    run_id = scheduled(rt, {"kind": "cron", "cron": "0 9 * * *"})
    with rt.db.session() as session:
        tree.stop(session, session.get(Run, run_id, with_for_update=True), "by alice")
    assert run_of(rt.db, run_id).status == "stopped"

    counts = firing.tick(rt, T0 + timedelta(hours=2))

    assert (counts["fired"], counts["ended"]) == (0, 1)
    assert children(rt.db, run_id) == []
    assert row_of(rt.db, run_id).reason == controller.STOPPED_WHY


def test_starting_a_controller_twice_keeps_one_schedule(rt, enqueued):
    run_id = scheduled(rt, {"kind": "cron", "cron": "0 9 * * *"})
    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)  # a re-sent start: the run is running already
        rows = session.scalar(select(func.count()).where(ScheduleRow.run_id == run_id))
    assert rows == 1
    assert run_of(rt.db, run_id).status == "running"


def test_a_schedule_that_has_no_slot_left_ends_the_controller_at_once(rt, enqueued):
    schedule = {"kind": "cron", "cron": "0 9 * * *", "endAt": (T0 - minutes(1)).isoformat()}
    run_id = scheduled(rt, schedule)

    status, reason, message = last_condition(rt.db, run_id)
    assert (status, reason) == ("succeeded", "ScheduleDone")
    assert message.startswith("no run fired; the schedule ended: no slot left before endAt")


# --- two schedulers against PostgreSQL ------------------------------------------------------

TICKS = 300


@pytest.fixture
def two_schedulers(postgres, enqueued):
    url = fresh_database("axon_schedule_runs")
    runtimes = [Runtime(Settings(database_url=url), Database(url), b"k") for _ in range(2)]
    yield runtimes
    for rt in runtimes:
        rt.db.dispose()
    drop_database(url)


def test_two_schedulers_fire_each_slot_of_each_controller_exactly_once(two_schedulers):
    rt = two_schedulers[0]
    schedules = [
        {"kind": "cron", "cron": "*/3 * * * *"},
        {"kind": "interval", "frequency": 120, "startAt": T0.isoformat()},
        {"kind": "interval", "frequency": 60, "maxRuns": 50},
    ]
    controllers = [scheduled(rt, schedule) for schedule in schedules]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def scheduler_loop(n: int) -> None:
        try:
            for i in range(1, TICKS + 1):
                barrier.wait(timeout=30)  # both tick the same moment, racing for the rows
                firing.tick(two_schedulers[n], T0 + minutes(i))
        except BaseException as exc:  # surfaced in the test's own thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=scheduler_loop, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    fired = [len(children(rt.db, run_id)) for run_id in controllers]
    assert fired == [TICKS // 3, TICKS // 2, 50]
    with rt.db.session() as session:
        decided = session.scalar(select(func.count()).select_from(ScheduleFire))
        fired_runs = select(Run.parent_id, Run.op_name).where(Run.parent_id.is_not(None))
        names = session.execute(fired_runs).all()
        assert len(set(names)) == len(names) == sum(fired) == decided


def test_a_schedule_waiting_for_approval_fires_nothing_and_once_approved_its_runs_go_unasked(
    rt, enqueued, submitted
):
    run_id = create(rt.db, {"kind": "datetime", "startAt": "2020-01-01T03:00:00Z"})
    with rt.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.spec = {**run.spec, "isApproved": False}
        launch.start_run(rt, session, run_id)
    held = run_of(rt.db, run_id)
    assert (held.status, held.pending) == ("compiled", "approval")
    assert firing.tick(rt)["fired"] == 0

    with rt.db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        assert run is not None
        approval.approve(session, run, "alice")
    with rt.db.session() as session:
        launch.start_run(rt, session, run_id)
    assert firing.tick(rt)["fired"] == 1

    [child] = children(rt.db, run_id)
    with rt.db.session() as session:
        launch.start_run(rt, session, child["id"])
    fired = run_of(rt.db, child["id"])
    assert (fired.status, fired.pending) == ("scheduled", None)
    assert len(submitted) == 1
