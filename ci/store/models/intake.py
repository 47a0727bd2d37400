"""Deliveries as received and the decisions made on their events, with the task queue's
bookkeeping: the outbox their tasks wait in, and the probes the sweeper sends down the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    insert,
)
from sqlalchemy import Connection as DbConnection
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models.columns import Json
from ci.store.models.projects import Source
from ci.store.models.runs import Run
from schemas.status import DeliveryStatus


class Delivery(Base):
    """One webhook request, stored before it is answered; also the outbox of its processing."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(32))
    # NULL for rejected deliveries: an unsigned copy must not block the genuine one.
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    event_name: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # DeliveryStatus: ci.intake.delivery_state
    reason: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    # The body's size as received: a refused delivery keeps only the first bytes of it.
    body_size: Mapped[int | None] = mapped_column(Integer)
    # Indexed for the retention prune, which deletes by age.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    source: Mapped[Source | None] = relationship()
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="delivery", order_by="Decision.id"
    )
    __table_args__ = (UniqueConstraint("source_id", "dedupe_key", name="uq_deliveries_dedupe"),)


class OutboxEntry(Base):
    """A delivery stored as received whose task the outbox relay has yet to publish.

    Its own table, not a column of `deliveries`: the relay deletes these rows, and the
    deliveries' rows (bodies, four indexes) are not written again for it. Intake inserts one
    in the statement that stores the delivery (ci.intake.receipt); a `Delivery` added through
    the ORM as received and not yet enqueued gets one on flush (below).
    """

    __tablename__ = "delivery_outbox"

    delivery_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


@event.listens_for(Delivery, "after_insert")
def _waits_for_relay(_mapper: Any, connection: DbConnection, delivery: Delivery) -> None:
    if delivery.status == DeliveryStatus.RECEIVED and delivery.enqueued_at is None:
        connection.execute(insert(OutboxEntry), {"delivery_id": delivery.id})


class Decision(Base):
    """Why one subscription did or did not start a run for one event of a delivery."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    event_index: Mapped[int] = mapped_column(Integer, default=0)
    event: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL")
    )
    subscription_name: Mapped[str] = mapped_column(String(128), default="")
    matched: Mapped[bool] = mapped_column(Boolean)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    delivery: Mapped[Delivery] = relationship(back_populates="decisions")
    run: Mapped[Run | None] = relationship()


class BrokerProbe(Base):
    """A message the sweeper sent down the task queue behind the work it suspects is lost.

    The queue is first in, first out: once a worker has seen a probe, every message published
    before it was delivered, so work older than the probe that is still not done was lost, not
    merely waiting behind a backlog.
    """

    __tablename__ = "broker_probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
