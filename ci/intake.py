"""Record each webhook delivery before it is answered, and decide what the answer is."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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


def record_rejection(
    db: Database,
    provider: str,
    source: Source | None,
    headers: Mapping[str, str],
    reason: str,
    body: bytes = b"",
) -> int:
    """Keep a refused delivery with its reason, so "why did nothing happen?" has an answer."""
    with db.session() as session:
        row = Delivery(
            source_id=source.id if source else None,
            provider=provider,
            dedupe_key=None,
            status="rejected",
            reason=reason,
            headers=kept_headers(headers),
            body=body,
            processed_at=utcnow(),
        )
        session.add(row)
        session.flush()
        return row.id


def receive(
    db: Database,
    provider: WebhookProvider,
    source: Source,
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
    row = Delivery(
        source_id=source.id,
        provider=provider.name,
        dedupe_key=provider.delivery_id(headers) or "sha256:" + hashlib.sha256(body).hexdigest(),
        event_name=provider.event_name(headers)[:64],
        status="received",
        reason="",
        headers=kept_headers(headers),
        body=body,
        received_at=now,
        # Counted as enqueued now: the relay publishes right after the commit, and the
        # sweeper re-sends any row still `received` long after this time.
        enqueued_at=now,
    )
    try:
        provider.decode(headers, body)
    except PayloadError as exc:
        row.status, row.reason = "malformed", str(exc)
        row.enqueued_at, row.processed_at = None, now
    return _store(db, row)


def _store(db: Database, row: Delivery) -> Outcome:
    try:
        with db.session() as session:
            session.add(row)
            session.flush()
            delivery_id = row.id
    except IntegrityError:
        existing = _existing(db, row.source_id, row.dedupe_key)
        return Outcome(
            200, "duplicate", existing, f"delivery {row.dedupe_key} was already received"
        )
    if row.status == "malformed":
        return Outcome(400, row.status, delivery_id, row.reason)
    return Outcome(202, row.status, delivery_id, "accepted")


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
