"""Schedules: each entry with the next slot to decide, and each slot fired or skipped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models.columns import Json
from schemas.status import ScheduleState


class Schedule(Base):
    """One entry of a subscription's `on.schedule`, with the next slot a scheduler must decide."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A subscription's `on.schedule` entry, or an operation's own `schedule:` (its controller run).
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    entry: Mapped[int] = mapped_column(Integer)  # its index in `on.schedule` (0 for a run's)
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    # ScheduleState, written by ci.schedules.state.
    state: Mapped[str] = mapped_column(String(16), default=ScheduleState.ACTIVE)
    # Why it is ended, or what it is waiting for; shown beside the schedule.
    reason: Mapped[str] = mapped_column(Text, default="")
    # The first slot not yet fired or skipped: what a catch-up after downtime starts from.
    next_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a scheduler must next look: the slot plus its jitter, or when to check again.
    # NULL while paused or ended: the due-schedules query never meets those rows.
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("subscription_id", "entry", name="uq_schedules_entry"),
        UniqueConstraint("run_id", "entry", name="uq_schedules_run_entry"),
    )


class ScheduleFire(Base):
    """One slot of a schedule, fired (with its delivery) or skipped (with the reason)."""

    __tablename__ = "schedule_fires"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the slot, before any jitter
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The slot's one row: two schedulers cannot both fire it.
    __table_args__ = (UniqueConstraint("schedule_id", "fire_at", name="uq_schedule_fires_slot"),)
