"""A subscription's schedule rows kept in step with its spec and paused flag, and read back.

Syncing writes only rows and their state (each move through ci.schedules.state); firing their
slots is ci.schedules.firing's.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.runtime import Runtime
from ci.schedules import state
from ci.store.db import utcnow
from ci.store.models import Schedule as ScheduleRow
from ci.store.models import ScheduleFire, Subscription
from schemas.errors import SpecError
from schemas.status import ScheduleState
from triggers.schedules import Schedule, entries

log = logging.getLogger(__name__)


def sync_subscription(
    session: Session, subscription: Subscription, now: datetime | None = None
) -> list[ScheduleRow]:
    """Make the subscription's schedule rows match its spec and its paused flag.

    Call it whenever a subscription is created, changed, paused or resumed (a deleted one
    takes its rows with it). A new or changed entry starts afresh: its first slot is the first
    after `now`. A resumed one keeps its place: the slots it missed while paused go to its
    catch-up policy, as a Kubernetes CronJob's do.
    """
    now = now or utcnow()
    # Two callers syncing one subscription take turns, so neither inserts a row twice.
    session.execute(
        select(Subscription.id).where(Subscription.id == subscription.id).with_for_update()
    )
    rows = {
        row.entry: row
        for row in session.scalars(
            select(ScheduleRow)
            .where(ScheduleRow.subscription_id == subscription.id)
            .with_for_update()
        )
    }
    synced = []
    for index, entry in enumerate(entries(subscription.spec)):
        row = rows.pop(index, None)
        if row is None:
            row = ScheduleRow(subscription_id=subscription.id, entry=index, spec=entry)
            session.add(row)
            _restart(row, now)
        elif row.spec != entry:
            row.spec = entry
            _restart(row, now)
        mirror_pause(row, subscription.paused)
        synced.append(row)
    for row in rows.values():
        session.delete(row)
    session.flush()
    return synced


def sync_all(session: Session, now: datetime | None = None) -> int:
    """Sync every subscription whose rows do not match its spec or paused flag; how many."""
    held: dict[int, list[tuple[Any, bool]]] = {}
    for sub_id, spec, row_state in session.execute(
        select(ScheduleRow.subscription_id, ScheduleRow.spec, ScheduleRow.state).order_by(
            ScheduleRow.subscription_id, ScheduleRow.entry
        )
    ):
        held.setdefault(sub_id, []).append((spec, row_state == ScheduleState.PAUSED))
    stale = [
        subscription
        for subscription in session.scalars(select(Subscription).order_by(Subscription.id))
        if [spec for spec, _ in held.get(subscription.id, [])] != entries(subscription.spec)
        or any(paused != subscription.paused for _, paused in held.get(subscription.id, []))
    ]
    for subscription in stale:
        sync_subscription(session, subscription, now)
    return len(stale)


def slot_key(row: ScheduleRow) -> str:
    """What a slot's jitter hashes: the same for every scheduler and every restart."""
    if row.run_id is not None:
        return f"run/{row.run_id}/{row.entry}"
    return f"{row.subscription_id}/{row.entry}"


def timing_of(row: ScheduleRow) -> Schedule | None:
    # A run's schedule is its operation's `schedule:`; a subscription's, an `on.schedule` entry.
    where = "schedule" if row.run_id is not None else f"on.schedule[{row.entry}]"
    try:
        return Schedule.from_spec(row.spec, where)
    except SpecError as exc:
        # Stored subscriptions are validated, but a newer Axon may read them differently.
        end(row, f"the schedule is invalid: {exc}")
        return None


def _restart(row: ScheduleRow, now: datetime) -> None:
    state.move(row, ScheduleState.ACTIVE)
    row.fired_count, row.last_fire_at = 0, None
    timing = timing_of(row)
    if timing is None:
        return
    row.next_slot_at = timing.next_after(now)
    ended = timing.end_reason(0, row.next_slot_at)
    if ended or row.next_slot_at is None:
        end(row, ended)
        return
    row.next_fire_at = timing.due_at(row.next_slot_at, slot_key(row))


def mirror_pause(row: ScheduleRow, paused: bool) -> None:
    if row.state == ScheduleState.ENDED:
        return
    if paused:
        state.move(row, ScheduleState.PAUSED, "the subscription is paused")
        return
    if row.state == ScheduleState.PAUSED:
        timing = timing_of(row)
        if timing is None or row.next_slot_at is None:
            return
        state.move(row, ScheduleState.ACTIVE)
        row.next_fire_at = timing.due_at(row.next_slot_at, slot_key(row))


def end(row: ScheduleRow, reason: str) -> None:
    state.move(row, ScheduleState.ENDED, reason)
    owner = f"run {row.run_id}" if row.run_id is not None else f"subscription {row.subscription_id}"
    log.info("schedule %s of %s ended: %s", row.entry, owner, reason)


def reconcile(rt: Runtime, now: datetime | None = None) -> int:
    """Resume the schedules of subscriptions resumed without a sync; returns how many."""
    with rt.db.session() as session:
        stale = session.scalars(
            select(Subscription)
            .join(ScheduleRow, ScheduleRow.subscription_id == Subscription.id)
            .where(ScheduleRow.state == ScheduleState.PAUSED, Subscription.paused.is_(False))
            .distinct()
        ).all()
        for subscription in stale:
            sync_subscription(session, subscription, now)
        return len(stale)


def history(session: Session, subscription_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The subscription's schedules and their latest slots, fired or skipped with the reason."""
    shown = []
    for row in session.scalars(
        select(ScheduleRow)
        .where(ScheduleRow.subscription_id == subscription_id)
        .order_by(ScheduleRow.entry)
    ):
        slots = session.execute(
            select(ScheduleFire.fire_at, ScheduleFire.delivery_id, ScheduleFire.reason)
            .where(ScheduleFire.schedule_id == row.id)
            .order_by(ScheduleFire.fire_at.desc())
            .limit(limit)
        )
        fields = ("entry", "state", "reason", "next_fire_at", "last_fire_at", "fired_count")
        shown.append({name: getattr(row, name) for name in fields})
        shown[-1]["slots"] = [dict(slot._mapping) for slot in slots]
    return shown
