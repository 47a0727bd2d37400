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

from ci import runtime
from ci.runtime import Runtime
from ci.store.db import utcnow
from ci.store.models import Delivery
from ci.supervision import Backoff
from schemas.status import DeliveryStatus

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
        .where(Delivery.status == DeliveryStatus.RECEIVED, Delivery.enqueued_at.is_(None))
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
    with rt.db.session() as session:
        ids = claim(session)
    sent = len(runtime.enqueue_each("axon.process_delivery", ids))
    if sent < len(ids):
        # The broker is away: the refused one is the sweeper's; the rest go back to wait for
        # the relay, so that each is claimed again just before it is published.
        with rt.db.session() as session:
            session.execute(
                update(Delivery).where(Delivery.id.in_(ids[sent + 1 :])).values(enqueued_at=None)
            )
    return sent


def run_forever(rt: Runtime, stop: threading.Event) -> None:
    """Publish waiting deliveries as they arrive, until `stop` is set.

    Survives the database and the broker going away: a failed try is logged and retried after
    a growing pause, and a lost LISTEN connection is opened again.
    """
    listener = Listener(rt)
    backoff = Backoff()
    try:
        while not stop.is_set():
            try:
                # Listening before claiming: a delivery stored after the claim wakes the relay.
                listener.open()
                if relay_once(rt) == BATCH:
                    continue  # more are waiting
                listener.wait()
                backoff.reset()
            except Exception:
                log.exception("relaying deliveries failed; trying again")
                listener.close()
                backoff.wait(stop)
    finally:
        listener.close()


class Listener:
    """Waits for NOTIFY on the relay's channel (PostgreSQL), or for the in-process wake-up.

    Its connection is made on first use and again after `close()`, so a lost one is replaced.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.connection: Any = None

    def open(self) -> None:
        """LISTEN, unless already listening (or not on PostgreSQL)."""
        if self.connection is None and self.rt.db.engine.dialect.name == "postgresql":
            self.connection = _listen(self.rt)

    def wait(self, seconds: float | None = None) -> None:
        """Return on a notification, or after `seconds` (POLL_SECONDS) without one."""
        seconds = POLL_SECONDS if seconds is None else seconds
        if self.rt.db.engine.dialect.name != "postgresql":
            _wake.wait(seconds)
            _wake.clear()
            return
        self.open()
        ready, _, _ = io_select.select([self.connection], [], [], seconds)
        if ready:
            self.connection.poll()  # raises if the connection was lost
            self.connection.notifies.clear()

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken: nothing left to close
                log.debug("closing the LISTEN connection failed", exc_info=True)


def _listen(rt: Runtime) -> Any:
    pooled = rt.db.engine.raw_connection()
    connection: Any = pooled.driver_connection
    pooled.detach()  # a LISTENing connection must never be handed to anyone else
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
    except BaseException:
        connection.close()
        raise
    return connection
