"""Record each webhook delivery before it is answered, and decide what the answer is."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ci.agent import outbox
from ci.intake import delivery_state
from ci.store.db import Database, utcnow
from ci.store.models import Delivery, OutboxEntry, Source
from schemas.errors import PayloadError, SignatureError
from schemas.status import DeliveryStatus
from webhooks.base import WebhookProvider

# Headers worth keeping with a delivery; never Authorization or cookies.
KEPT_HEADERS = ("content-type", "user-agent")
# The longest delivery id kept: the width of `delivery_state.dedupe_key`.
MAX_DELIVERY_ID = 128
# What a refused delivery keeps of its body when the caller does not say (AXON_REJECTED_BODY_BYTES).
REJECTED_BODY_BYTES = 4096

# Built once: every webhook request runs one of these, and the ORM's per-call work on it would
# cost more than the insert itself. Every column is a parameter, so one compiled form serves all.
_DELIVERIES = cast(Table, Delivery.__table__)
_COLUMNS = tuple(c.name for c in _DELIVERIES.columns if c.name != "id")
_STORE = (
    insert(_DELIVERIES)
    .values({name: bindparam(name) for name in _COLUMNS})
    .returning(_DELIVERIES.c.id)
)
# A delivery to process is stored and put in the outbox in one statement (PostgreSQL; SQLite
# takes two in one transaction), with the relays' wake-up in it when one is due.
_OUTBOX = cast(Table, OutboxEntry.__table__)
_stored = _STORE.cte("stored")
_queued = insert(_OUTBOX).from_select(["delivery_id"], select(_stored.c.id)).cte("queued")
_STORE_AND_QUEUE = select(_stored.c.id).add_cte(_queued)
_STORE_QUEUE_AND_NOTIFY = select(_stored.c.id, outbox.notification()).add_cte(_queued)
# What a delivery may be stored without, as the model's defaults give it.
_OPTIONAL = {
    "event_name": "",
    "reason": "",
    "body": b"",
    "body_size": None,
    "enqueued_at": None,
    "processed_at": None,
}


@dataclass(frozen=True)
class Outcome:
    """What intake did with a delivery: the HTTP answer and, when accepted, the row to process."""

    status: int
    state: str
    delivery_id: int | None
    message: str


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {}
    for name, value in headers.items():
        low = name.lower()
        secret = "signature" in low or "token" in low or low == "authorization"
        if not secret and (low in KEPT_HEADERS or low.startswith("x-")):
            kept[_text(low)] = _text(value)
    return kept


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a sender's header or message may carry one.
    return value.replace("\x00", "")


@dataclass(frozen=True)
class SourceRef:
    """What intake needs of a source, detached from any session."""

    id: int
    provider: str
    name: str
    secret: str = field(repr=False)
    allow_legacy_signatures: bool
    # When set, `secret` is empty and the connection's is read at each delivery.
    connection_id: int | None = None


class SourceCache:
    """Sources by (provider, name), read from the database at most every `ttl` seconds.

    Every webhook request needs its source; a short-lived copy saves a query per request,
    and a changed secret still takes effect within `ttl`.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._found: dict[tuple[str, str], tuple[float, SourceRef | None]] = {}

    def forget(self, provider: str, name: str) -> None:
        self._found.pop((provider, name), None)

    def get(
        self, db: Database, provider: str, name: str, opened: Callable[[str], str]
    ) -> SourceRef | None:
        """The source, its secret as `opened` gives it from the stored (encrypted) one; a source
        that names a connection has none here (ci.connections.signing reads it per delivery)."""
        key = (provider, name)
        cached = self._found.get(key)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        with db.session() as session:
            row = session.scalar(
                select(Source).where(Source.provider == provider, Source.name == name)
            )
            found = (
                SourceRef(
                    row.id,
                    row.provider,
                    row.name,
                    opened(row.secret) if row.secret else "",
                    row.allow_legacy_signatures,
                    row.connection_id,
                )
                if row
                else None
            )
        self._found[key] = (time.monotonic(), found)
        return found


def record_rejection(
    db: Database,
    provider: str,
    source: SourceRef | None,
    headers: Mapping[str, str],
    reason: str,
    body: bytes = b"",
    size: int | None = None,
    keep: int = REJECTED_BODY_BYTES,
) -> int | None:
    """Keep a refused delivery with its reason, so "why did nothing happen?" has an answer.

    Only the first `keep` bytes of the body are kept, with its `size` (default: `len(body)`):
    anyone can send a refused delivery, so its whole body would let anyone fill the disk.
    """
    values = delivery_state.new(
        DeliveryStatus.REJECTED,
        source_id=source.id if source else None,
        provider=provider,
        dedupe_key=None,
        reason=_text(reason),
        headers=kept_headers(headers),
        body=body[: max(keep, 0)],
        body_size=len(body) if size is None else size,
    )
    try:
        return _insert(db, values)
    except IntegrityError:
        # The source was deleted since it was looked up (sources are cached): keep the
        # refusal without it.
        return _insert(db, {**values, "source_id": None})


def _delivery_id_problem(provider: WebhookProvider, key: str | None) -> str | None:
    """Why the sender's delivery id cannot be kept as the dedupe key, if it cannot."""
    if key is None:
        return None
    header = provider.delivery_header or "the delivery id"
    if len(key) > MAX_DELIVERY_ID:
        return f"{header} is {len(key)} characters long; at most {MAX_DELIVERY_ID} are accepted"
    if "\x00" in key:
        return f"{header} contains a NUL character"
    return None


def receive(
    db: Database,
    provider: WebhookProvider,
    source: SourceRef,
    headers: Mapping[str, str],
    body: bytes,
    keep_rejected: int = REJECTED_BODY_BYTES,
) -> Outcome:
    """Verify, check the body is well-formed, and commit the delivery; dedupe redeliveries.

    A refused delivery keeps the first `keep_rejected` bytes of its body.
    """
    try:
        provider.verify(headers, body, source.secret)
    except SignatureError as exc:
        record_rejection(db, provider.name, source, headers, str(exc), body, keep=keep_rejected)
        return Outcome(401, "rejected", None, str(exc))
    key = provider.delivery_id(headers)
    problem = _delivery_id_problem(provider, key)
    if problem is not None:
        row = record_rejection(
            db, provider.name, source, headers, problem, body, keep=keep_rejected
        )
        return Outcome(400, "rejected", row, problem)
    now, status, reason = utcnow(), DeliveryStatus.RECEIVED, ""
    try:
        provider.decode(headers, body)
    except PayloadError as exc:
        status, reason = DeliveryStatus.MALFORMED, _text(str(exc))
    values = delivery_state.new(
        status,
        source_id=source.id,
        provider=provider.name,
        dedupe_key=key or "sha256:" + hashlib.sha256(body).hexdigest(),
        event_name=_text(provider.event_name(headers))[:64],
        reason=reason,
        headers=kept_headers(headers),
        body=body,
        body_size=len(body),
        received_at=now,
        processed_at=None if status == DeliveryStatus.RECEIVED else now,
        enqueued_at=None,  # the outbox relay publishes it (ci.agent.outbox)
    )
    try:
        delivery_id = _insert(db, values)
    except IntegrityError:
        existing = _existing(db, source.id, values["dedupe_key"])
        if existing is None:
            # Not a duplicate: the source was deleted since it was looked up.
            return Outcome(404, "unknown_source", None, f"source {source.name!r} is gone")
        message = f"delivery {values['dedupe_key']} was already received"
        return Outcome(200, "duplicate", existing, message)
    if status == DeliveryStatus.MALFORMED:
        return Outcome(400, "malformed", delivery_id, reason)
    return Outcome(202, "received", delivery_id, "accepted")


def _insert(db: Database, values: dict[str, Any]) -> int | None:
    """Store a delivery in one statement that commits by itself; wake the relays if it waits
    for them.

    Pooled connections are not pinged before use (ci.store.db): one the database dropped fails
    here, and the insert is tried once more on a new connection. If the first try had committed
    after all, the second finds its dedupe key taken, and the caller answers "duplicate".
    """
    row = {**_OPTIONAL, "headers": {}, "received_at": utcnow(), **values}
    waiting = row["status"] == DeliveryStatus.RECEIVED
    postgres = db.engine.dialect.name == "postgresql"
    notify = waiting and postgres and outbox.waker.due()
    try:
        delivery_id = _store(db, row, waiting, notify, postgres)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        delivery_id = _store(db, row, waiting, notify, postgres)
    if waiting:
        outbox.waker.stored()
    return delivery_id


def _store(
    db: Database, row: dict[str, Any], waiting: bool, notify: bool, postgres: bool
) -> int | None:
    with db.single_statement() as conn:
        if not waiting:
            return conn.execute(_STORE, row).scalar()
        if postgres:
            statement = _STORE_QUEUE_AND_NOTIFY if notify else _STORE_AND_QUEUE
            return conn.execute(statement, row).scalar()
        # SQLite has no INSERT in a WITH: the same unit of work, in two statements.
        delivery_id = conn.execute(_STORE, row).scalar()
        conn.execute(insert(_OUTBOX), {"delivery_id": delivery_id})
        return delivery_id


def _existing(db: Database, source_id: int | None, dedupe_key: str | None) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Delivery.id).where(
                Delivery.source_id == source_id, Delivery.dedupe_key == dedupe_key
            )
        )
