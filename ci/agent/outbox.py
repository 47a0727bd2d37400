"""The delivery outbox: the API stores, the relay publishes. No broker call on the request path.

A stored delivery has `enqueued_at` NULL until the relay claims it (FOR UPDATE SKIP LOCKED, so
several relays never publish one row twice; a partial index holds just those rows) and
publishes its task. A row claimed but not published (the broker was down) is re-sent by the
sweeper once `enqueued_at` is old.

The API wakes the relay: in-process with an event (the embedded setup runs both in one
process) and across processes with PostgreSQL's NOTIFY. A NOTIFY is costly (PostgreSQL
serializes every commit that carries one), so an API process sends one at most every
`NOTIFY_EVERY`, and a relay woken stays awake `LINGER`, claiming what arrives meanwhile without
being told. After that it looks again after pauses that double up to `POLL_SECONDS`: a
delivery whose insert outlasted the wake-up it relied on waits about as long again, at most.
"""

from __future__ import annotations

import logging
import math
import select as io_select
import threading
import time
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    func,
    literal,
    select,
    text,
    update,
)
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
# An API process sends at most one NOTIFY in this many seconds; the relay it woke stays awake
# for several times as long, so the deliveries stored in between need none.
NOTIFY_EVERY = 0.025
LINGER = 4 * NOTIFY_EVERY
# A relay awake claims again after this pause: what arrived meanwhile is one batch. Each claim
# is a transaction, so batches of one would cost the relay more than the deliveries' publishing.
PAUSE = 0.02

_wake = threading.Event()
_DELIVERIES = cast(Table, Delivery.__table__)


def notify(session: Session) -> None:
    """Tell relays a delivery is waiting: now in this process, on commit elsewhere."""
    _wake.set()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


def notification() -> ColumnElement[Any]:
    """`pg_notify` of the relays' channel, to select in the statement that stores a delivery."""
    return func.pg_notify(CHANNEL, "")


class Waker:
    """When an API process wakes the relays: with the first delivery it stores after a quiet
    spell, and then at most every NOTIFY_EVERY."""

    def __init__(self) -> None:
        self.last = -math.inf  # monotonic time this process last chose to send a NOTIFY
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether the statement about to store a delivery should carry a NOTIFY.

        Chosen before the insert, not after its commit: while one insert with a NOTIFY waits
        for the disk, the others of this process go without."""
        with self._lock:
            now = time.monotonic()
            if now - self.last < NOTIFY_EVERY:
                return False
            self.last = now
            return True

    def stored(self) -> None:
        """A delivery waiting for the relay committed: wake a relay in this process."""
        _wake.set()


waker = Waker()


# Literals, not parameters, in the predicate: the partial index `ix_deliveries_waiting` fits
# only a query whose predicate the planner can prove from the statement itself.
_WAITING = (
    select(_DELIVERIES.c.id)
    .where(
        _DELIVERIES.c.status == literal(DeliveryStatus.RECEIVED.value, literal_execute=True),
        _DELIVERIES.c.enqueued_at.is_(None),
    )
    .order_by(_DELIVERIES.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
# Built once, on the table: the ORM's bulk-update path, and building the statement anew, cost
# more than the claim itself.
_CLAIM = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(_WAITING.scalar_subquery()))
    .values(enqueued_at=bindparam("now"))
    .returning(_DELIVERIES.c.id)
)


def claim(conn: Connection | Session, limit: int = BATCH) -> list[int]:
    """Mark up to `limit` waiting deliveries as enqueued; returns their ids, oldest first.

    The mark is bookkeeping: lost in a crash, the rows are claimed and published again, and
    their tasks are safe twice; so the commit does not wait for the disk.
    """
    dialect = conn.dialect if isinstance(conn, Connection) else conn.get_bind().dialect
    if dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
    claimed = conn.execute(_CLAIM, {"now": utcnow(), "limit": limit})
    return sorted(claimed.scalars())


def relay_once(rt: Runtime) -> int:
    """Claim and publish one batch; returns how many were published."""
    with rt.db.transaction() as conn:
        ids = claim(conn)
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

    Woken, it claims at once, then again every PAUSE until LINGER has passed since the last
    wake-up or delivery found (API processes do not announce each delivery: `Waker`), then
    after pauses doubling up to POLL_SECONDS. Survives the database and the broker going away:
    a failed try is logged and retried after a growing pause, and a lost LISTEN connection is
    opened again.
    """
    listener = Listener(rt)
    backoff = Backoff()
    awake_until, idle_wait = -math.inf, POLL_SECONDS
    try:
        while not stop.is_set():
            try:
                # Listening before claiming: a delivery stored after the claim wakes the relay.
                listener.open()
                sent = relay_once(rt)
                if sent == BATCH:
                    continue  # more are waiting
                if time.monotonic() < awake_until:
                    stop.wait(PAUSE)
                    woken = listener.wait(0)
                else:
                    woken = listener.wait(idle_wait)
                    idle_wait = min(2 * idle_wait, POLL_SECONDS)
                if woken or sent:
                    awake_until, idle_wait = time.monotonic() + LINGER, 2 * PAUSE
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

    def wait(self, seconds: float | None = None) -> bool:
        """Return on a notification, or after `seconds` (POLL_SECONDS) without one; whether
        one came."""
        seconds = POLL_SECONDS if seconds is None else seconds
        if self.rt.db.engine.dialect.name != "postgresql":
            woken = _wake.wait(seconds)
            _wake.clear()
            return woken
        self.open()
        ready, _, _ = io_select.select([self.connection], [], [], seconds)
        if not ready:
            return False
        self.connection.poll()  # raises if the connection was lost
        woken = bool(self.connection.notifies)
        self.connection.notifies.clear()
        return woken

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
