"""A received delivery becomes events, decisions and runs, in one transaction."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci import lifecycle
from ci.db import utcnow
from ci.models import Decision, Delivery, Run, Source, Subscription
from schemas.errors import PayloadError, SpecError, SpecErrors
from schemas.event import Event
from triggers.base import Check
from triggers.base import Decision as Verdicts
from triggers.subscription import Subscription as Filter
from triggers.subscription import compile_subscription, evaluate
from webhooks.registry import providers

log = logging.getLogger(__name__)
# Deliveries the scheduler writes for schedule slots carry this provider name.
SCHEDULE = "schedule"


def process_delivery(session: Session, delivery_id: int) -> list[int]:
    """Parse the delivery, decide every subscription of its project, create the runs.

    Returns the ids of the runs created. Safe to call twice: a delivery is processed once.
    """
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != "received":
        return []
    try:
        if delivery.provider == SCHEDULE:
            events, rows = _schedule_fire(session, delivery)
        else:
            events, rows = _webhook(session, delivery)
    except PayloadError as exc:
        _finish(delivery, "malformed", str(exc))
        return []
    except LookupError as exc:
        _finish(delivery, "failed", str(exc))
        return []
    filters, broken = _filters(rows)
    by_id = {row.id: row for row in rows}
    runs: list[Run] = []
    for index, event in enumerate(events):
        decisions = evaluate(event, filters) + [_broken(row, reason) for row, reason in broken]
        for decided in decisions:
            row = by_id[decided.subscription_id]
            run = _create_run(session, row, delivery, event, index) if decided.matched else None
            runs += [run] if run else []
            session.add(_decision(delivery, index, event, decided, run))
    if not events:
        what = delivery.event_name or "the delivery"
        _finish(delivery, "processed", f"{what}: no event Axon acts on; nothing started")
    else:
        _finish(delivery, "processed", f"{len(events)} event(s), {len(runs)} run(s) started")
    session.flush()
    return [run.id for run in runs]


def _webhook(session: Session, delivery: Delivery) -> tuple[list[Event], list[Subscription]]:
    """A forge's delivery: its events, and every active subscription of the source's project."""
    source = session.get(Source, delivery.source_id) if delivery.source_id else None
    if source is None:
        raise LookupError("the delivery's source was deleted")
    events = providers.get(delivery.provider).parse(delivery.headers, delivery.body)
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.project_id == source.project_id, Subscription.paused.is_(False))
        .order_by(Subscription.id)
    )
    return events, list(rows)


def _schedule_fire(session: Session, delivery: Delivery) -> tuple[list[Event], list[Subscription]]:
    """A schedule's slot (written by ci.scheduler): one event, for its own subscription only."""
    try:
        fire = json.loads(delivery.body)
        subscription = session.get(Subscription, int(fire["subscription_id"]))
        fire_at = str(fire["fire_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PayloadError(f"schedule: unreadable fire record: {exc}") from exc
    if subscription is None:
        raise LookupError("the schedule's subscription was deleted")
    event = Event(
        kind="schedule",
        provider=SCHEDULE,
        scheduled_at=fire_at,
        message=f"schedule {fire.get('schedule', 0)} fired for {fire_at}",
        raw=fire,
    )
    return [event], [] if subscription.paused else [subscription]


def _finish(delivery: Delivery, status: str, reason: str) -> None:
    delivery.status = status
    # A redelivery keeps saying what it is a copy of.
    delivery.reason = f"{delivery.reason}: {reason}" if delivery.reason else reason
    delivery.processed_at = utcnow()


def _filters(rows: list[Subscription]) -> tuple[list[Filter], list[tuple[Subscription, str]]]:
    filters, broken = [], []
    for row in rows:
        try:
            filters.append(compile_subscription(row.id, row.name, row.spec))
        except (SpecError, SpecErrors) as exc:
            # Stored subscriptions are validated, but a newer Axon may read them differently.
            broken.append((row, f"the subscription is invalid: {exc}"))
    return filters, broken


def _broken(row: Subscription, reason: str) -> Verdicts:
    return Verdicts(row.id, row.name, False, (Check("spec", False, reason),))


def _create_run(
    session: Session, subscription: Subscription, delivery: Delivery, event: Event, index: int
) -> Run | None:
    operation: dict[str, Any] = subscription.spec["operation"]
    run = Run(
        project_id=subscription.project_id,
        name=str(operation.get("name") or subscription.name),
        kind="job",
        subscription_id=subscription.id,
        delivery_id=delivery.id,
        event_key=f"{delivery.provider}:{delivery.dedupe_key}:{index}"[:160],
        event=event.context(),
        spec=operation,
    )
    try:
        with session.begin_nested():
            lifecycle.create(
                session, run, "EventMatched", f"{event.kind} {event.ref or ''}".strip()
            )
            session.flush()
    except IntegrityError:
        log.info("subscription %s already has a run for %s", subscription.id, run.event_key)
        return None
    return run


def _decision(
    delivery: Delivery, index: int, event: Event, decided: Verdicts, run: Run | None
) -> Decision:
    return Decision(
        delivery_id=delivery.id,
        event_index=index,
        event=event.context(),
        subscription_id=decided.subscription_id,
        subscription_name=decided.subscription,
        matched=decided.matched,
        checks=[check.as_dict() for check in decided.checks],
        run_id=run.id if run else None,
    )
