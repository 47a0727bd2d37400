"""How long deliveries are kept: older ones are pruned, with the decisions only they need."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.orm import aliased

from ci.runtime import Runtime
from ci.store.db import utcnow
from ci.store.models import Delivery, Run, ScheduleFire
from schemas.status import DONE, DeliveryStatus

log = logging.getLogger(__name__)
# Deleted per transaction, so a first prune of a large table holds no long lock.
BATCH = 1000


def prune(rt: Runtime, batches: int = 100) -> int:
    """Delete deliveries older than `AXON_DELIVERY_RETENTION_DAYS`; the number deleted.

    Their decisions go with them (the foreign key cascades); finished runs keep their own copy
    of the event, and their `delivery_id` becomes NULL. Kept whatever their age:
    - a delivery still `received`: it is work the outbox has yet to hand out;
    - a delivery a live run came from: the scheduler's concurrency policy finds a
      schedule's active runs through it, and the run page links to it;
    - each schedule's latest fired slot's delivery: `dependsOnPast` reads its outcome.
    """
    days = rt.settings.delivery_retention_days
    if days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    deleted = 0
    for _ in range(batches):
        with rt.db.session() as session:
            ids = list(session.scalars(_prunable(cutoff).limit(BATCH)))
            if ids:
                session.execute(delete(Delivery).where(Delivery.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < BATCH:
            break
    if deleted:
        log.info("pruned %d deliveries received before %s", deleted, cutoff.isoformat())
    return deleted


def prune_if_due(rt: Runtime, every_seconds: float = 3600.0) -> int:
    """`prune(rt)` at most once per `every_seconds` in this process; for periodic loops."""
    global _last_prune
    now = time.monotonic()
    if _last_prune is not None and now - _last_prune < every_seconds:
        return 0
    _last_prune = now
    return prune(rt)


_last_prune: float | None = None


def _prunable(cutoff: datetime) -> Select[int]:
    live_runs = select(Run.delivery_id).where(
        Run.delivery_id.is_not(None), Run.status.not_in([str(s) for s in DONE])
    )
    later = aliased(ScheduleFire)
    latest_fires = select(ScheduleFire.delivery_id).where(
        ScheduleFire.delivery_id.is_not(None),
        ~exists().where(
            later.schedule_id == ScheduleFire.schedule_id, later.fire_at > ScheduleFire.fire_at
        ),
    )
    return (
        select(Delivery.id)
        .where(
            Delivery.received_at < cutoff,
            Delivery.status != DeliveryStatus.RECEIVED,
            Delivery.id.not_in(live_runs),
            Delivery.id.not_in(latest_fires),
        )
        .order_by(Delivery.id)
    )
