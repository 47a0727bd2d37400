"""The delivery outbox: the API stores, the relay publishes. No broker call on the request path.

A stored delivery has `enqueued_at` NULL until the relay claims it (FOR UPDATE SKIP LOCKED, so
several relays never publish one row twice) and publishes its task. The API wakes the relay:
in-process with an event (the embedded setup runs both in one process) and across processes
with PostgreSQL's NOTIFY. A relay that is not woken still polls. A row claimed but not
published (the broker was down) is re-sent by the sweeper once `enqueued_at` is old.
"""

from __future__ import annotations

import logging
import select as io_select
import threading
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ci.db import utcnow
from ci.models import Delivery
from ci.runtime import Runtime

log = logging.getLogger(__name__)
CHANNEL = "axon_deliveries"
BATCH = 500
POLL_SECONDS = 1.0

_wake = threading.Event()


def notify(session: Session) -> None:
    """Tell relays a delivery is waiting: now in this process, on commit elsewhere."""
    _wake.set()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


def claim(session: Session, limit: int = BATCH) -> list[int]:
    """Mark up to `limit` waiting deliveries as enqueued; returns their ids, oldest first."""
    waiting = (
        select(Delivery.id)
        .where(Delivery.status == "received", Delivery.enqueued_at.is_(None))
        .order_by(Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(waiting.scalar_subquery()))
        .values(enqueued_at=utcnow())
        .returning(Delivery.id)
    )
    return sorted(claimed.scalars())


def relay_once(rt: Runtime) -> int:
    """Claim and publish one batch; returns how many were published."""
    from ci import tasks

    with rt.db.session() as session:
        ids = claim(session)
    for delivery_id in ids:
        tasks.enqueue(tasks.process_delivery, delivery_id)
    return len(ids)


def run_forever(rt: Runtime, stop: threading.Event) -> None:
    """Publish waiting deliveries as they arrive, until `stop` is set."""
    listener = _listen(rt)
    try:
        while not stop.is_set():
            try:
                if relay_once(rt) == BATCH:
                    continue  # more are waiting
            except Exception:
                log.exception("relaying deliveries failed; trying again")
            _wait(listener, stop)
    finally:
        if listener is not None:
            listener.close()


def _listen(rt: Runtime) -> Any:
    if rt.db.engine.dialect.name != "postgresql":
        return None
    pooled = rt.db.engine.raw_connection()
    connection: Any = pooled.driver_connection
    pooled.detach()  # a LISTENing connection must never be handed to anyone else
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {CHANNEL}")
    return connection


def _wait(listener: Any, stop: threading.Event) -> None:
    if listener is None:
        _wake.wait(POLL_SECONDS)
        _wake.clear()
        return
    ready, _, _ = io_select.select([listener], [], [], POLL_SECONDS)
    if ready:
        listener.poll()
        listener.notifies.clear()
