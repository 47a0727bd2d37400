"""The scheduler: each due schedule slot becomes one delivery, however many schedulers run.

Due schedules come from the `next_fire_at` index; no cron is evaluated for a schedule not due.
On PostgreSQL a tick locks the due rows `FOR UPDATE SKIP LOCKED`, so schedulers share the work
and never decide one slot twice (the unique (schedule, slot) row backs that up). SQLite has no
row locks: the embedded setup runs one scheduler, and BEGIN IMMEDIATE serializes its writes.
A slot's delivery commits with the slot's row and is enqueued after commit (the sweeper re-sends
it if the broker was down); a slot not fired keeps its reason, as does a waiting schedule.

A schedule a run owns (an operation's own `schedule:`, ci.schedules.controller) takes the same
slots, each fired slot becoming a child run of the controller instead of a delivery.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ci import runtime
from ci.intake import delivery_state
from ci.runs import tree
from ci.runs.dispatch import SCHEDULE
from ci.runtime import Runtime
from ci.schedules import controller
from ci.schedules.sync import end, mirror_pause, reconcile, slot_key, sync_all, timing_of
from ci.store.db import Base, after_commit, utcnow
from ci.store.models import Delivery, Run, ScheduleFire, Subscription
from ci.store.models import Schedule as ScheduleRow
from ci.supervision import Backoff
from schemas.status import DONE, DeliveryStatus, RunStatus
from triggers.schedules import Schedule

log = logging.getLogger(__name__)
# dependsOnPast: how soon a slot waiting for the previous run is looked at again.
RECHECK = timedelta(seconds=10)
# How often a running scheduler resumes schedules whose subscription was resumed behind its back.
RECONCILE_SECONDS = 60.0


@dataclass
class Outcome:
    """What one tick did: counts, the deliveries to enqueue, the runs to stop."""

    due: int = 0
    fired: int = 0
    skipped: int = 0
    waiting: int = 0
    ended: int = 0
    paused: int = 0
    deliveries: list[int] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)  # children fired by controller runs
    controllers: list[int] = field(default_factory=list)  # controllers whose schedule ended
    replaced: list[int] = field(default_factory=list)  # runs asked to stop (Replace)
    on_runner: list[int] = field(default_factory=list)  # of those, the ones a runner holds

    def as_dict(self) -> dict[str, Any]:
        shown = (
            "due", "fired", "skipped", "waiting", "ended", "paused", "deliveries", "runs",
            "replaced",
        )  # fmt: skip
        return {name: getattr(self, name) for name in shown}


def tick(rt: Runtime, now: datetime | None = None, batch: int = 500) -> dict[str, Any]:
    """Decide every schedule due at `now` (at most `batch` of them), in one transaction.

    Returns the counts, the ids of the deliveries written and of the runs asked to stop.
    """
    now = now or utcnow()
    out = Outcome()
    with rt.db.session() as session:
        due = session.execute(
            select(ScheduleRow, Subscription.paused)
            .outerjoin(Subscription, Subscription.id == ScheduleRow.subscription_id)
            .where(ScheduleRow.next_fire_at <= now)
            .order_by(ScheduleRow.next_fire_at)
            .limit(batch)
            # Only the schedule rows: a tick must not block the API pausing a subscription,
            # nor whoever moves a controller run.
            .with_for_update(skip_locked=True, of=ScheduleRow)
        ).all()
        for row, paused in due:
            out.due += 1
            if row.run_id is not None and (halted := controller.halted(session, row)):
                out.ended += 1
                end(row, halted)
                out.controllers.append(row.run_id)
                continue
            _advance(session, row, bool(paused), now, out)
        after_commit(session, lambda: _enqueue(out))
    return out.as_dict()


def _enqueue(out: Outcome) -> None:
    for delivery_id in out.deliveries:
        runtime.enqueue("axon.process_delivery", delivery_id)
    for run_id in out.runs:
        runtime.enqueue("axon.start_run", run_id)
    for run_id in out.controllers:
        runtime.enqueue("axon.advance_pipeline", run_id)
    for run_id in out.on_runner:
        runtime.enqueue("axon.stop_run", run_id)


def _advance(session: Session, row: ScheduleRow, paused: bool, now: datetime, out: Outcome) -> None:
    """Fire or skip the schedule's due slots, then point it at its next one."""
    timing = timing_of(row)
    if timing is None or row.next_slot_at is None:  # invalid (and so ended just now)
        out.ended += 1
        if row.run_id is not None:
            out.controllers.append(row.run_id)
        return
    if paused:
        out.paused += 1
        mirror_pause(row, True)
        return
    plan = timing.plan(row.next_slot_at, now, slot_key(row))
    for slot, reason in plan.skip:
        _skip(session, row, slot, reason, out)
    next_slot, waiting = plan.next_slot, ""
    for slot in plan.fire:
        if timing.end_reason(row.fired_count, slot):
            next_slot = None
            break
        action, reason, stop = _guard(session, row, timing, slot)
        if action == "wait":
            next_slot, waiting = slot, reason
            break
        if action == "skip":
            _skip(session, row, slot, reason, out)
        else:
            _fire(session, row, slot, _replace(session, stop, out), out)
    row.next_slot_at = next_slot
    ended = timing.end_reason(row.fired_count, next_slot)
    if ended or next_slot is None:
        out.ended += 1
        end(row, ended)
        if row.run_id is not None:  # its controller ends once its children are done
            out.controllers.append(row.run_id)
    elif waiting:
        out.waiting += 1
        row.reason, row.next_fire_at = waiting, now + RECHECK
    else:
        row.reason, row.next_fire_at = "", timing.due_at(next_slot, slot_key(row))


def _guard(
    session: Session, row: ScheduleRow, timing: Schedule, slot: datetime
) -> tuple[str, str, list[Run]]:
    """Whether `slot` may fire now: ("fire" | "skip" | "wait", why, runs to stop first)."""
    if row.run_id is not None:
        action, reason = controller.guard(session, row, timing.depends_on_past)
        return action, reason, []
    if timing.depends_on_past:
        action, reason = _previous_outcome(session, row)
        if action != "fire":
            return action, reason, []
    if timing.concurrency == "Allow":
        return "fire", "", []
    fired = select(ScheduleFire.delivery_id).where(ScheduleFire.schedule_id == row.id)
    active = (
        select(Run)
        .where(Run.subscription_id == row.subscription_id, Run.delivery_id.in_(fired))
        .where(Run.status.not_in([str(s) for s in DONE]))
        .order_by(Run.id)
    )
    if timing.concurrency == "Replace":
        return "fire", "", list(session.scalars(active.with_for_update()))
    busy = ", ".join(f"run {run.id} ({run.status})" for run in session.scalars(active))
    if busy:
        return "skip", f"concurrencyPolicy Forbid: {busy} of this schedule is still active", []
    pending = session.scalar(
        select(ScheduleFire.fire_at)
        .join(Delivery, Delivery.id == ScheduleFire.delivery_id)
        .where(ScheduleFire.schedule_id == row.id, Delivery.status == DeliveryStatus.RECEIVED)
        .limit(1)
    )
    if pending is not None:
        why = f"the slot {pending.isoformat()} of this schedule has not started its run yet"
        return "skip", f"concurrencyPolicy Forbid: {why}", []
    return "fire", "", []


def _previous_outcome(session: Session, row: ScheduleRow) -> tuple[str, str]:
    """dependsOnPast: wait while the last fired slot's run may still succeed; skip if it failed."""
    previous = session.execute(
        select(ScheduleFire.fire_at, ScheduleFire.delivery_id, Delivery.status)
        .join(Delivery, Delivery.id == ScheduleFire.delivery_id)
        .where(ScheduleFire.schedule_id == row.id)
        .order_by(ScheduleFire.fire_at.desc())
        .limit(1)
    ).first()
    if previous is None:
        return "fire", ""
    fire_at, delivery_id, delivery_status = previous
    slot = fire_at.isoformat()
    if delivery_status == DeliveryStatus.RECEIVED:
        return "wait", f"dependsOnPast: waiting for the slot {slot} to start its run"
    runs = session.execute(
        select(Run.id, Run.status).where(
            Run.subscription_id == row.subscription_id, Run.delivery_id == delivery_id
        )
    ).all()
    for run_id, status in runs:
        if status not in DONE:
            return "wait", f"dependsOnPast: waiting for run {run_id} of the slot {slot} ({status})"
        if status != RunStatus.SUCCEEDED:
            return "skip", f"dependsOnPast: run {run_id} of the previous slot {slot} {status}"
    return "fire", ""


def _replace(session: Session, runs: list[Run], out: Outcome) -> str:
    """concurrencyPolicy Replace: ask the schedule's active runs to stop; says which."""
    for run in runs:
        out.on_runner += tree.stop(session, run, "concurrencyPolicy Replace: a newer slot fired")
        out.replaced.append(run.id)
    if not runs:
        return "fired"
    ids = ", ".join(str(run.id) for run in runs)
    return f"fired; concurrencyPolicy Replace: asked run {ids} to stop"


# Built once, against the tables rather than the ORM classes: a tick writes many of these.
_DELIVERIES, _FIRES = Base.metadata.tables["deliveries"], Base.metadata.tables["schedule_fires"]
_DELIVERY = insert(_DELIVERIES).returning(_DELIVERIES.c.id)
# ON CONFLICT rather than a savepoint per slot: fewer round trips, and a conflict leaves the
# transaction usable. PostgreSQL and SQLite spell it alike.
_SLOT = {
    "postgresql": postgresql.insert(_FIRES).on_conflict_do_nothing().returning(_FIRES.c.id),
    "sqlite": sqlite.insert(_FIRES).on_conflict_do_nothing().returning(_FIRES.c.id),
}


def _fire(session: Session, row: ScheduleRow, slot: datetime, reason: str, out: Outcome) -> None:
    if row.run_id is not None:
        _fire_child(session, row, slot, reason, out)
        return
    stamp, received = slot.isoformat(), utcnow()
    fire = {"subscription_id": row.subscription_id, "schedule": row.entry, "fire_at": stamp}
    # No source: the scheduler is the sender; the slot's own row is what makes it unique.
    delivery = delivery_state.new(
        DeliveryStatus.RECEIVED,
        provider=SCHEDULE,
        dedupe_key=f"{row.id}:{stamp}"[:128],
        event_name="schedule",
        body=json.dumps(fire).encode(),
        received_at=received,
        enqueued_at=received,
    )
    delivery_id = session.scalar(_DELIVERY, delivery)
    if not _record(session, row, slot, reason, delivery_id):
        session.execute(delete(Delivery).where(Delivery.id == delivery_id))
        log.warning("schedule %s: slot %s was already decided; not firing it again", row.id, stamp)
        return
    assert delivery_id is not None
    row.fired_count += 1
    row.last_fire_at = slot
    out.fired += 1
    out.deliveries.append(delivery_id)


def _fire_child(
    session: Session, row: ScheduleRow, slot: datetime, reason: str, out: Outcome
) -> None:
    """A controller's slot: its row, then its child run, both exactly once."""
    if not _record(session, row, slot, reason):
        log.warning("schedule of run %s: slot %s was already decided", row.run_id, slot)
        return
    child_id = controller.fire(session, row, slot)
    if child_id is None:
        return
    row.fired_count += 1
    row.last_fire_at = slot
    out.fired += 1
    out.runs.append(child_id)


def _skip(session: Session, row: ScheduleRow, slot: datetime, reason: str, out: Outcome) -> None:
    if not _record(session, row, slot, reason):
        return
    out.skipped += 1
    stamp = slot.isoformat()
    log.info("schedule %s/%s: slot %s not fired: %s", row.subscription_id, row.entry, stamp, reason)


def _record(
    session: Session, row: ScheduleRow, slot: datetime, reason: str, delivery_id: int | None = None
) -> bool:
    """Write the slot's row; False if it was already decided."""
    values = {"schedule_id": row.id, "fire_at": slot, "delivery_id": delivery_id, "reason": reason}
    return session.scalar(_SLOT[session.get_bind().dialect.name], values) is not None


def run_forever(
    rt: Runtime, stop_event: threading.Event, interval: float = 1.0, batch: int = 500
) -> None:
    """Tick every `interval` seconds until `stop_event` is set (`axon scheduler`, or a thread)."""
    try:
        with rt.db.session() as session:
            log.info("scheduler started; %s subscription(s) synced", sync_all(session))
    except Exception:
        log.exception("syncing the schedules failed; ticking what is there")
    reconciled = time.monotonic()
    backoff = Backoff(first=interval, most=max(interval, 10.0))
    while not stop_event.is_set():
        try:
            counts = tick(rt, batch=batch)
            if time.monotonic() - reconciled > RECONCILE_SECONDS:
                reconciled = time.monotonic()
                reconcile(rt)
            backoff.reset()
        except Exception:
            log.exception("scheduler tick failed; trying again")
            backoff.wait(stop_event)
            continue
        # A full batch means more are due: go on at once instead of falling behind.
        if counts.get("due", 0) < batch:
            stop_event.wait(interval)
