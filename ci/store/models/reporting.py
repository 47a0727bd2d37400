"""What was reported of runs, and where: each status to each target once, every attempt at
it, and the throttle of progress reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models.columns import Json


class Notification(Base):
    """One report of one condition to one target; unique so a retried task sends it once."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    condition_id: Mapped[int] = mapped_column(ForeignKey("conditions.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))  # NotificationState: ci.reporting.attempts
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # While `retrying`: when the next attempt is due. Kept here, so that neither a re-sent task
    # nor a restarted worker starts the target's retry budget over.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text, default="")
    receipt: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "condition_id", "target", name="uq_notifications_once"),
    )


class NotificationAttempt(Base):
    """One try at reporting one status to one target: the notification log the API serves.

    `notifications` keeps each (run, status, target) once, with its receipt; this keeps every
    attempt, including the retried, the refused and the skipped, each with its reason.
    """

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    condition_id: Mapped[int] = mapped_column(ForeignKey("conditions.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(64))
    notifier: Mapped[str] = mapped_column(String(32), default="")
    # What asked for it: "report" (the subscription), "hooks[0]", "plugins.notifications[1]".
    via: Mapped[str] = mapped_column(String(64), default="report")
    status: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))  # NotificationState: ci.reporting.attempts
    http_status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    receipt_id: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProgressReport(Base):
    """When a running run's progress last went to one target, and when the next is due: the
    throttle of ci.reporting.progress, kept here so that a restarted worker still sends the
    last progress a window held back."""

    __tablename__ = "progress_reports"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: nothing waits. Else the send of the latest progress is due then.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The last progress send's receipt, when it differs from the running status's (a message
    # posted anew because the old one was deleted): later sends edit that one.
    receipt: Mapped[dict[str, Any] | None] = mapped_column(Json)
