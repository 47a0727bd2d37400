"""The scheduler: each due slot becomes one delivery, with every policy, and with two schedulers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ci.config import Settings
from ci.runs import dispatch
from ci.runtime import Runtime
from ci.schedules import firing, sync
from ci.store import migrate
from ci.store.db import Database, make_engine
from ci.store.models import Decision, Delivery, Project, Run, ScheduleFire, Subscription
from ci.store.models import Schedule as ScheduleRow
from schemas.status import RunStatus
from tests.ci.factories import OPERATION
from tests.conftest import drop_database, fresh_database
from tests.waiting import wait_for
from triggers.schedules import Schedule

S = RunStatus
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday, 08:00 UTC


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def subscribe(db: Database, *entries: dict[str, Any], now: datetime = T0, **fields: Any) -> int:
    """A subscription with these `on.schedule` entries, synced as the API does; its id."""
    with db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        if project is None:
            project = Project(name="vision")
            session.add(project)
            session.flush()
        count = session.scalar(select(func.count()).select_from(Subscription))
        name = f"nightly-{count}"
        spec = {"name": name, "on": {"schedule": list(entries)}, "operation": OPERATION}
        row = Subscription(project_id=project.id, name=name, spec=spec, **fields)
        session.add(row)
        session.flush()
        sync.sync_subscription(session, row, now)
        return row.id


def schedule_of(db: Database, subscription_id: int, entry: int = 0) -> ScheduleRow:
    with db.session() as session:
        return session.scalar(
            select(ScheduleRow).where(
                ScheduleRow.subscription_id == subscription_id, ScheduleRow.entry == entry
            )
        )


def fires(db: Database, subscription_id: int) -> list[tuple[datetime, bool, str]]:
    """(slot, fired?, reason) of every decided slot of the subscription, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(ScheduleFire.fire_at, ScheduleFire.delivery_id, ScheduleFire.reason)
            .join(ScheduleRow, ScheduleRow.id == ScheduleFire.schedule_id)
            .where(ScheduleRow.subscription_id == subscription_id)
            .order_by(ScheduleFire.fire_at)
        ).all()
    return [(at, delivery is not None, reason) for at, delivery, reason in rows]


def fired(db: Database, subscription_id: int) -> list[datetime]:
    return [at for at, was_fired, _ in fires(db, subscription_id) if was_fired]


def run_for(db: Database, subscription_id: int, slot: datetime, status: RunStatus) -> int:
    """The run the worker would have started for the slot's delivery, now in `status`."""
    with db.session() as session:
        delivery_id, project_id = session.execute(
            select(ScheduleFire.delivery_id, Subscription.project_id)
            .join(ScheduleRow, ScheduleRow.id == ScheduleFire.schedule_id)
            .join(Subscription, Subscription.id == ScheduleRow.subscription_id)
            .where(ScheduleRow.subscription_id == subscription_id, ScheduleFire.fire_at == slot)
        ).one()
        processed = update(Delivery).where(Delivery.id == delivery_id).values(status="processed")
        session.execute(processed)
        run = Run(
            project_id=project_id,
            subscription_id=subscription_id,
            delivery_id=delivery_id,
            event_key=f"schedule:{delivery_id}:0",
            status=status,
            external_id="local-1" if status == S.RUNNING else None,
        )
        session.add(run)
        session.flush()
        return run.id


def status_of(db: Database, run_id: int) -> str:
    with db.session() as session:
        return session.get(Run, run_id).status


# --- sync -----------------------------------------------------------------------------------


def test_a_new_schedule_waits_for_its_first_slot_after_now(db):
    sub = subscribe(db, {"cron": "0 9 * * *", "timezone": "Europe/Paris"}, {"interval": 600})
    daily, every_ten = schedule_of(db, sub, 0), schedule_of(db, sub, 1)
    # 09:00 in Paris is T0 itself: the first slot strictly after now is tomorrow's.
    assert (daily.state, daily.next_fire_at) == ("active", T0 + timedelta(days=1))
    assert every_ten.next_fire_at == T0 + minutes(10)


def test_changing_an_entry_restarts_it_and_removing_one_deletes_it(db):
    sub = subscribe(db, {"interval": 600}, {"interval": 60})
    with db.session() as session:
        row = session.get(Subscription, sub)
        row.spec = {**row.spec, "on": {"schedule": [{"interval": 1800}]}}
        sync.sync_subscription(session, row, T0 + minutes(5))
    assert schedule_of(db, sub, 0).next_fire_at == T0 + minutes(30)
    assert schedule_of(db, sub, 1) is None


def test_a_schedule_already_over_is_ended_with_the_reason(db):
    sub = subscribe(db, {"datetime": "2026-01-01T00:00:00Z"})
    row = schedule_of(db, sub)
    assert (row.state, row.next_fire_at) == ("ended", None)
    assert row.reason == "its one slot, 2026-01-01T00:00:00+00:00, has passed"


# --- tick -----------------------------------------------------------------------------------


def test_a_due_slot_becomes_one_schedule_delivery_enqueued_after_commit(rt, db, enqueued):
    sub = subscribe(db, {"cron": "*/10 * * * *"})

    counts = firing.tick(rt, now=T0 + minutes(10))

    assert (counts["due"], counts["fired"], counts["skipped"]) == (1, 1, 0)
    [delivery_id] = counts["deliveries"]
    assert enqueued == [("axon.process_delivery", (delivery_id,))]
    with db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        assert (delivery.provider, delivery.source_id, delivery.event_name) == (
            "schedule",
            None,
            "schedule",
        )
        assert delivery.status == "received" and delivery.enqueued_at is not None
        assert json.loads(delivery.body) == {
            "subscription_id": sub,
            "schedule": 0,
            "fire_at": "2026-03-02T08:10:00+00:00",
        }
    assert fires(db, sub) == [(T0 + minutes(10), True, "fired")]
    assert schedule_of(db, sub).next_fire_at == T0 + minutes(20)


def test_ticking_again_at_the_same_time_fires_nothing_more(rt, db, enqueued):
    sub = subscribe(db, {"cron": "*/10 * * * *"})
    firing.tick(rt, now=T0 + minutes(10))
    assert firing.tick(rt, now=T0 + minutes(10))["due"] == 0
    assert firing.tick(rt, now=T0 + minutes(19))["due"] == 0
    assert fired(db, sub) == [T0 + minutes(10)]


def test_dispatch_reads_the_fire_record_as_a_schedule_event(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600})
    [delivery_id] = firing.tick(rt, now=T0 + minutes(10))["deliveries"]
    with db.session() as session:
        dispatch.process_delivery(session, delivery_id)
    with db.session() as session:
        assert session.get(Delivery, delivery_id).status == "processed"
        [decision] = session.scalars(select(Decision).where(Decision.delivery_id == delivery_id))
        assert decision.subscription_id == sub
        assert decision.event["kind"] == "schedule"
        assert decision.event["scheduled_at"] == "2026-03-02T08:10:00+00:00"


def test_after_downtime_catch_up_latest_fires_the_newest_slot_and_logs_the_rest(rt, db, enqueued):
    sub = subscribe(db, {"cron": "*/10 * * * *"})
    counts = firing.tick(rt, now=T0 + minutes(65))
    assert (counts["fired"], counts["skipped"]) == (1, 1)
    [(first, first_fired, why), (latest, latest_fired, _)] = fires(db, sub)
    assert (first, first_fired) == (T0 + minutes(10), False)
    assert why.startswith("missed: 5 slot(s) from 2026-03-02T08:10:00+00:00 to")
    assert (latest, latest_fired) == (T0 + minutes(60), True)
    assert schedule_of(db, sub).next_fire_at == T0 + minutes(70)


def test_a_paused_subscription_fires_nothing(rt, db, enqueued):
    sub = subscribe(db, {"cron": "*/10 * * * *"}, paused=True)
    assert schedule_of(db, sub).next_fire_at is None
    assert firing.tick(rt, now=T0 + minutes(30))["due"] == 0
    assert fires(db, sub) == [] and enqueued == []


def test_a_subscription_paused_without_a_sync_still_fires_nothing(rt, db, enqueued):
    sub = subscribe(db, {"cron": "*/10 * * * *"})
    with db.session() as session:
        session.execute(update(Subscription).where(Subscription.id == sub).values(paused=True))
    counts = firing.tick(rt, now=T0 + minutes(10))
    assert (counts["fired"], counts["paused"]) == (0, 1)
    assert schedule_of(db, sub).state == "paused"
    with db.session() as session:
        session.execute(update(Subscription).where(Subscription.id == sub).values(paused=False))
    assert sync.reconcile(rt) == 1
    assert firing.tick(rt, now=T0 + minutes(21))["fired"] == 1  # the missed slot: latest
    assert fired(db, sub) == [T0 + minutes(20)]


def test_max_runs_ends_the_schedule_with_the_reason(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "maxRuns": 2})
    for n in (1, 2, 3, 4):
        firing.tick(rt, now=T0 + minutes(10 * n))
    assert fired(db, sub) == [T0 + minutes(10), T0 + minutes(20)]
    row = schedule_of(db, sub)
    assert (row.state, row.reason, row.next_fire_at, row.fired_count) == (
        "ended",
        "maxRuns 2 reached",
        None,
        2,
    )


def test_forbid_skips_a_slot_while_the_previous_run_is_active(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "concurrencyPolicy": "Forbid"})
    firing.tick(rt, now=T0 + minutes(10))
    run_id = run_for(db, sub, T0 + minutes(10), S.RUNNING)

    assert firing.tick(rt, now=T0 + minutes(20))["skipped"] == 1
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(status=S.SUCCEEDED))
    assert firing.tick(rt, now=T0 + minutes(30))["fired"] == 1

    why = f"concurrencyPolicy Forbid: run {run_id} (running) of this schedule is still active"
    assert fires(db, sub)[1] == (T0 + minutes(20), False, why)
    assert fired(db, sub) == [T0 + minutes(10), T0 + minutes(30)]


def test_forbid_counts_a_fired_slot_whose_run_has_not_started_yet(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "concurrencyPolicy": "Forbid"})
    firing.tick(rt, now=T0 + minutes(10))
    firing.tick(rt, now=T0 + minutes(20))
    assert "has not started its run yet" in fires(db, sub)[1][2]


def test_replace_stops_the_active_run_and_fires(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "concurrencyPolicy": "Replace"})
    firing.tick(rt, now=T0 + minutes(10))
    on_runner = run_for(db, sub, T0 + minutes(10), S.RUNNING)
    enqueued.clear()

    counts = firing.tick(rt, now=T0 + minutes(20))

    assert counts["replaced"] == [on_runner] and counts["fired"] == 1
    assert status_of(db, on_runner) == S.STOPPING
    assert ("axon.stop_run", (on_runner,)) in enqueued
    why = fires(db, sub)[1][2]
    assert why == f"fired; concurrencyPolicy Replace: asked run {on_runner} to stop"


def test_replace_stops_a_run_no_runner_holds_at_once(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "concurrencyPolicy": "Replace"})
    firing.tick(rt, now=T0 + minutes(10))
    created = run_for(db, sub, T0 + minutes(10), S.CREATED)
    firing.tick(rt, now=T0 + minutes(20))
    assert status_of(db, created) == S.STOPPED


def test_depends_on_past_waits_for_the_previous_run_then_fires(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "dependsOnPast": True})
    firing.tick(rt, now=T0 + minutes(10))
    run_id = run_for(db, sub, T0 + minutes(10), S.RUNNING)

    counts = firing.tick(rt, now=T0 + minutes(20))

    assert (counts["fired"], counts["waiting"]) == (0, 1)
    row = schedule_of(db, sub)
    assert row.reason == (
        f"dependsOnPast: waiting for run {run_id} of the slot 2026-03-02T08:10:00+00:00 (running)"
    )
    assert row.next_slot_at == T0 + minutes(20)
    assert row.next_fire_at == T0 + minutes(20) + firing.RECHECK
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(status=S.SUCCEEDED))
    assert firing.tick(rt, now=T0 + minutes(21))["fired"] == 1
    assert fired(db, sub) == [T0 + minutes(10), T0 + minutes(20)]


def test_depends_on_past_skips_a_slot_after_a_failed_run(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "dependsOnPast": True})
    firing.tick(rt, now=T0 + minutes(10))
    run_id = run_for(db, sub, T0 + minutes(10), S.FAILED)
    firing.tick(rt, now=T0 + minutes(20))
    why = f"dependsOnPast: run {run_id} of the previous slot 2026-03-02T08:10:00+00:00 failed"
    assert fires(db, sub)[1] == (T0 + minutes(20), False, why)


def test_the_history_shows_each_slot_with_its_reason(rt, db, enqueued):
    sub = subscribe(db, {"interval": 600, "concurrencyPolicy": "Forbid"})
    firing.tick(rt, now=T0 + minutes(10))
    firing.tick(rt, now=T0 + minutes(20))
    with db.session() as session:
        [shown] = sync.history(session, sub)
    assert [s["fire_at"] for s in shown["slots"]] == [T0 + minutes(20), T0 + minutes(10)]
    assert shown["slots"][0]["delivery_id"] is None
    assert shown["slots"][0]["reason"].startswith("concurrencyPolicy Forbid")


@pytest.mark.parametrize(
    ("night", "fires_at"),
    [
        # Spring forward: 02:30 does not exist; the slot fires once, at 03:00 CEST.
        (datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 3, 30, 1, 0, tzinfo=UTC)),
        # Fall back: 02:30 happens twice; the slot fires once, at the first (CEST).
        (datetime(2025, 10, 25, 23, tzinfo=UTC), datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_daily_0230_paris_job_fires_once_on_a_dst_night(rt, db, enqueued, night, fires_at):
    sub = subscribe(db, {"cron": "30 2 * * *", "timezone": "Europe/Paris"}, now=night)
    for step in range(1, 5 * 12 + 1):  # every five minutes for five hours
        firing.tick(rt, now=night + minutes(5 * step))
    assert fires(db, sub) == [(fires_at, True, "fired")]


# --- the embedded setup: SQLite, one scheduler thread ---------------------------------------


@pytest.fixture
def sqlite_rt(tmp_path, enqueued):
    engine = make_engine(f"sqlite:///{tmp_path / 'axon.db'}")
    migrate.upgrade(engine)
    settings = Settings(home=str(tmp_path), database_url=str(engine.url))
    yield Runtime(settings, Database(settings.database_url, engine=engine), b"k")
    engine.dispose()


def test_run_forever_fires_on_sqlite_until_told_to_stop(sqlite_rt, enqueued):
    now = datetime.now(UTC)
    sub = subscribe(sqlite_rt.db, {"interval": 0.2}, now=now)
    stop = threading.Event()
    thread = threading.Thread(target=firing.run_forever, args=(sqlite_rt, stop, 0.02))
    thread.start()
    try:
        wait_for(lambda: len(fired(sqlite_rt.db, sub)) >= 2, 10, 0.05, "two fires")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert {name for name, _ in enqueued} == {"axon.process_delivery"}


# --- two schedulers against PostgreSQL ------------------------------------------------------

TICKS, STEP, BATCH = 1000, timedelta(minutes=1), 3
# Through the night Europe/Paris falls back (2025-10-26 01:00 UTC).
START = datetime(2025, 10, 25, 20, 0, tzinfo=UTC)
ENTRIES = [
    {"cron": "*/3 * * * *"},
    {"cron": "*/7 * * * *", "jitter": 20},
    {"cron": "30 2 * * *", "timezone": "Europe/Paris"},
    {"cron": "0 * * * *", "timezone": "Europe/Paris", "jitter": 50},
    {"interval": 250},
    # Three slots fall in each tick for two hours: all of them fire, then the schedule ends.
    {"interval": 20, "catchUp": "all", "endAt": "2025-10-25T22:00:00Z"},
    {"interval": 3600, "jitter": 600},
]


@pytest.fixture
def two_schedulers(postgres, enqueued):
    url = fresh_database("axon_scheduler")
    runtimes = [Runtime(Settings(database_url=url), Database(url), b"k") for _ in range(2)]
    yield runtimes
    for rt in runtimes:
        rt.db.dispose()
    drop_database(url)


def expected_slots(subscription_id: int, end: datetime) -> set[tuple[int, datetime]]:
    expected = set()
    for entry, spec in enumerate(ENTRIES):
        timing = Schedule.from_spec(spec, "")
        slot = timing.next_after(START)
        while slot is not None and timing.due_at(slot, f"{subscription_id}/{entry}") <= end:
            expected.add((entry, slot))
            slot = timing.next_after(slot)
    return expected


def drain(rt: Runtime, now: datetime) -> int:
    """Tick until a batch comes back short, as run_forever does; how many slots it fired."""
    fired = 0
    while True:
        counts = firing.tick(rt, now, BATCH)
        fired += counts["fired"]
        if counts["due"] < BATCH:
            return fired


def test_two_schedulers_for_1000_ticks_fire_each_slot_exactly_once(two_schedulers, caplog):
    sub = subscribe(two_schedulers[0].db, *ENTRIES, now=START)
    barrier = threading.Barrier(2)
    fired_by = [0, 0]
    errors: list[BaseException] = []

    def scheduler_loop(n: int) -> None:
        try:
            for i in range(1, TICKS + 1):
                barrier.wait(timeout=30)  # both tick the same moment, racing for the rows
                fired_by[n] += drain(two_schedulers[n], START + STEP * i)
        except BaseException as exc:  # surfaced in the test's own thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=scheduler_loop, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    with two_schedulers[0].db.session() as session:
        rows = session.execute(
            select(ScheduleRow.entry, ScheduleFire.fire_at, ScheduleFire.delivery_id).join(
                ScheduleRow, ScheduleRow.id == ScheduleFire.schedule_id
            )
        ).all()
        bodies = [json.loads(b) for b in session.scalars(select(Delivery.body))]
    assert all(delivery is not None for _, _, delivery in rows)  # nothing skipped
    assert {(entry, at) for entry, at, _ in rows} == expected_slots(sub, START + STEP * TICKS)
    assert len(bodies) == len(rows) == len({(b["schedule"], b["fire_at"]) for b in bodies})
    assert sum(fired_by) == len(rows)
    assert min(fired_by) > 0  # both schedulers took part
    # The row locks kept them apart: neither even tried a slot the other had decided.
    assert "already decided" not in caplog.text
    assert schedule_of(two_schedulers[0].db, sub, 5).reason.startswith("no slot left before endAt")
