"""Record each webhook delivery before it is answered, and decide what the answer is."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci import outbox
from ci.db import Database, utcnow
from ci.models import Delivery, Source
from schemas.errors import PayloadError, SignatureError
from webhooks.base import WebhookProvider

# Headers worth keeping with a delivery; never Authorization or cookies.
KEPT_HEADERS = ("content-type", "user-agent")


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
            kept[low] = value
    return kept


@dataclass(frozen=True)
class SourceRef:
    """What intake needs of a source, detached from any session."""

    id: int
    provider: str
    name: str
    secret: str = field(repr=False)
    allow_legacy_signatures: bool


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

    def get(self, db: Database, provider: str, name: str) -> SourceRef | None:
        key = (provider, name)
        cached = self._found.get(key)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        with db.session() as session:
            row = session.scalar(
                select(Source).where(Source.provider == provider, Source.name == name)
            )
            found = (
                SourceRef(row.id, row.provider, row.name, row.secret, row.allow_legacy_signatures)
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
) -> int | None:
    """Keep a refused delivery with its reason, so "why did nothing happen?" has an answer."""
    values: dict[str, Any] = {
        "source_id": source.id if source else None,
        "provider": provider,
        "dedupe_key": None,
        "status": "rejected",
        "reason": reason,
        "headers": kept_headers(headers),
        "body": body,
        "processed_at": utcnow(),
    }
    return _insert(db, values)


def receive(
    db: Database,
    provider: WebhookProvider,
    source: SourceRef,
    headers: Mapping[str, str],
    body: bytes,
) -> Outcome:
    """Verify, check the body is well-formed, and commit the delivery; dedupe redeliveries."""
    try:
        provider.verify(headers, body, source.secret)
    except SignatureError as exc:
        record_rejection(db, provider.name, source, headers, str(exc), body)
        return Outcome(401, "rejected", None, str(exc))
    now = utcnow()
    values: dict[str, Any] = {
        "source_id": source.id,
        "provider": provider.name,
        "dedupe_key": provider.delivery_id(headers) or "sha256:" + hashlib.sha256(body).hexdigest(),
        "event_name": provider.event_name(headers)[:64],
        "status": "received",
        "reason": "",
        "headers": kept_headers(headers),
        "body": body,
        "received_at": now,
        "enqueued_at": None,  # the outbox relay publishes it (ci.outbox)
    }
    try:
        provider.decode(headers, body)
    except PayloadError as exc:
        values.update(status="malformed", reason=str(exc), enqueued_at=None, processed_at=now)
    try:
        delivery_id = _insert(db, values)
    except IntegrityError:
        existing = _existing(db, source.id, values["dedupe_key"])
        if existing is None:
            # Not a duplicate: the source was deleted since it was looked up.
            return Outcome(404, "unknown_source", None, f"source {source.name!r} is gone")
        message = f"delivery {values['dedupe_key']} was already received"
        return Outcome(200, "duplicate", existing, message)
    if values["status"] == "malformed":
        return Outcome(400, "malformed", delivery_id, str(values["reason"]))
    return Outcome(202, "received", delivery_id, "accepted")


def _insert(db: Database, values: dict[str, Any]) -> int | None:
    # Core, not the ORM: this runs once per webhook request, before the answer.
    with db.session() as session:
        delivery_id = session.execute(
            insert(Delivery).values(**values).returning(Delivery.id)
        ).scalar()
        if values["status"] == "received":
            outbox.notify(session)
        return delivery_id


def _existing(db: Database, source_id: int | None, dedupe_key: str | None) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Delivery.id).where(
                Delivery.source_id == source_id, Delivery.dedupe_key == dedupe_key
            )
        )


def claim_stale(session: Session, older_than_seconds: float, limit: int = 500) -> list[int]:
    """Deliveries still `received` long after they were enqueued: the broker lost them."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    stale = (
        select(Delivery.id)
        .where(Delivery.status == "received", Delivery.enqueued_at < cutoff)
        .order_by(Delivery.id)
        .limit(limit)
    )
    ids = list(session.scalars(stale))
    if ids:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=utcnow()))
    return ids
