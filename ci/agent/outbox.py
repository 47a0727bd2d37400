"""The delivery outbox: the API stores, the relay publishes. No broker call on the request path.

A delivery stored as received has a row in `delivery_outbox` (stored with it, in the same
statement) until the relay publishes its task. The relay deletes a batch of those rows (FOR
UPDATE SKIP LOCKED, so several relays never publish one delivery twice), publishes their tasks
(a few messages for the batch, each naming several deliveries: `messages`), and only then
commits: a relay that dies before its commit leaves the rows in place, and they are published
again (tasks are safe twice). The deliveries' own rows are not written. One the broker accepted
and then lost is re-sent by the sweeper once the delivery is old.

The API wakes the relay: in-process with an event (the embedded setup runs both in one
process) and across processes with PostgreSQL's NOTIFY. A NOTIFY is costly (PostgreSQL
serializes every commit that carries one), so an API process sends one at most every
`NOTIFY_EVERY`, and a relay woken stays awake `LINGER`, claiming what arrives meanwhile without
being told. While awake it holds the advisory lock `AWAKE_LOCK`, and an insert that would carry
a NOTIFY sends it only if it can share that lock: under load, while a relay claims anyway, no
commit pays for one. After that it looks again after pauses that double up to `POLL_SECONDS`: a
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
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

from ci import runtime
from ci.runtime import Runtime
from ci.store.models import OutboxEntry
from ci.supervision import Backoff

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
# Held (exclusively, on the relay's LISTEN connection) by a relay while it is awake. An insert
# takes it shared, until its commit, to learn that no relay is awake: then its NOTIFY is needed.
AWAKE_LOCK = int.from_bytes(b"axonrly1", "big", signed=True)
# How long a relay waking up waits for the lock (inserts share it until they commit), and how
# long it then goes without before it asks again (another relay may hold it).
AWAKE_LOCK_WAIT_MS = 50
AWAKE_LOCK_RETRY = 1.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when lock_timeout ran out
# A message costs the relay more CPU to publish than a delivery costs the API to store, so one
# message names several deliveries (`axon.process_deliveries`). Yet a batch goes out as at
# least SPREAD messages (when it has as many deliveries), so that the processes of a worker
# (two by default: `axon worker --concurrency`) share a burst instead of one working through
# it alone; and as more once they would name over PER_MESSAGE each.
SPREAD = 2
PER_MESSAGE = 25
TASK = "axon.process_deliveries"

_wake = threading.Event()
_OUTBOX = cast(Table, OutboxEntry.__table__)


def notify(session: Session) -> None:
    """Tell relays a delivery is waiting: now in this process, on commit elsewhere."""
    _wake.set()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


def notification() -> ColumnElement[Any]:
    """`pg_notify` of the relays' channel, to select in the statement that stores a delivery:
    sent only when no relay is awake (none holds AWAKE_LOCK), since an awake one claims anyway.

    A volatile function in a CASE branch is called only when its condition holds."""
    idle = func.pg_try_advisory_xact_lock_shared(literal(AWAKE_LOCK, literal_execute=True))
    return case((idle, func.pg_notify(CHANNEL, "")))


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


_WAITING = (
    select(_OUTBOX.c.delivery_id)
    .order_by(_OUTBOX.c.delivery_id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
# Built once, on the table: building the statement anew costs more than the claim itself.
_CLAIM = (
    delete(_OUTBOX)
    .where(_OUTBOX.c.delivery_id.in_(_WAITING.scalar_subquery()))
    .returning(_OUTBOX.c.delivery_id)
)


# What a claim's transaction says first, so that its commit does not wait for the disk: lost in
# a database crash, the rows come back and are published again, and their tasks are safe twice.
NO_DISK_WAIT = "SET LOCAL synchronous_commit TO OFF;"


def claim(conn: Connection, limit: int = BATCH) -> list[int]:
    """Take up to `limit` waiting deliveries out of the outbox; returns their ids, oldest first.

    Until the caller's transaction (one begun with NO_DISK_WAIT) commits, the rows are only
    locked: rolled back (a crash, a publish that raised), they wait again."""
    return sorted(conn.execute(_CLAIM, {"limit": limit}).scalars())


def messages(ids: list[int]) -> list[list[int]]:
    """The deliveries of one claim, in order, cut into the messages that carry their tasks."""
    if not ids:
        return []
    count = min(len(ids), max(SPREAD, math.ceil(len(ids) / PER_MESSAGE)))
    size = math.ceil(len(ids) / count)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def relay_once(rt: Runtime) -> int:
    """Claim and publish one batch; returns how many deliveries were published.

    A delivery leaves the outbox in the transaction that claimed it, committed after its task
    was published: never before, so none is lost between the two. The claim is the
    transaction's first round trip, with its BEGIN and SET LOCAL in the same query string: a
    delivery's task is published one or two round trips sooner."""
    with rt.db.transaction_in_one_trip(prefix=NO_DISK_WAIT) as conn:
        ids = claim(conn)
        sent = 0
        for message in messages(ids):
            if runtime.enqueue(TASK, message) is False:
                break
            sent += len(message)
        if sent < len(ids):
            # The broker is away: the refused message's deliveries (it may have been kept) and
            # the rest wait again, and are published when the broker is back.
            conn.execute(insert(_OUTBOX), [{"delivery_id": i} for i in ids[sent:]])
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
                if sent:
                    # Counted from now, not from before the claim: publishing a batch on a
                    # busy machine can outlast LINGER, and the relay is plainly not idle.
                    awake_until, idle_wait = time.monotonic() + LINGER, 2 * PAUSE
                    listener.set_awake(True)
                if time.monotonic() < awake_until:
                    stop.wait(PAUSE)
                    woken = listener.wait(0)
                elif listener.awake:
                    # Inserts that saw the lock held sent no NOTIFY: claim once more after
                    # letting it go, so none committed by now waits for the next poll.
                    listener.set_awake(False)
                    continue
                else:
                    woken = listener.wait(idle_wait)
                    idle_wait = min(2 * idle_wait, POLL_SECONDS)
                if woken:
                    # The lock is asked for once the claim this wake-up is for has been made.
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
        self.awake = False  # whether this relay holds AWAKE_LOCK on `connection`
        self.asked = -math.inf  # monotonic time it last failed to get the lock

    def set_awake(self, awake: bool) -> None:
        """Hold AWAKE_LOCK while awake, so inserts spare their NOTIFY; let it go before sleeping.

        Waiting for it, the relay is awake already, and inserts that find it asked for send no
        NOTIFY either. Not held is safe, only dearer (another relay holds it, or an insert's
        commit outlasted AWAKE_LOCK_WAIT_MS): the inserts keep notifying, and the relay asks
        again after AWAKE_LOCK_RETRY."""
        if awake == self.awake or self.connection is None:
            return
        if awake and time.monotonic() - self.asked < AWAKE_LOCK_RETRY:
            return
        with self.connection.cursor() as cursor:
            if not awake:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (AWAKE_LOCK,))
                self.awake = False
                return
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", (AWAKE_LOCK,))
            except Exception as exc:
                if getattr(exc, "pgcode", None) != LOCK_NOT_AVAILABLE:
                    raise
                self.asked = time.monotonic()
            else:
                self.awake = True

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
        # One that came while the lock was asked for is already read off the socket.
        ready = bool(self.connection.notifies)
        if not ready:
            ready = bool(io_select.select([self.connection], [], [], seconds)[0])
        if not ready:
            return False
        self.connection.poll()  # raises if the connection was lost
        woken = bool(self.connection.notifies)
        self.connection.notifies.clear()
        return woken

    def close(self) -> None:
        # The lock ends with its session: closing the connection lets it go.
        connection, self.connection, self.awake = self.connection, None, False
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
            cursor.execute(f"SET lock_timeout = {AWAKE_LOCK_WAIT_MS}")
            cursor.execute(f"LISTEN {CHANNEL}")
    except BaseException:
        connection.close()
        raise
    return connection
