"""A project and what it is configured with: its webhook sources, its subscriptions (with
the version that says when they changed) and its connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models.columns import Json


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Its org's members get their org role on it (ci.identity.roles); migration 0013 puts the
    # projects made before orgs existed in the "default" org.
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )


class Source(Base):
    """A webhook endpoint: `/webhooks/<provider>/<name>`, with the secret it is signed with
    (its own, or a project connection's)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(String(512), default="")
    allow_legacy_signatures: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set instead of `secret`: deliveries are verified with this connection's value `secret`,
    # read at each delivery (ci.connections.signing), so replacing it takes effect at once.
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", name="fk_sources_connection_id"), nullable=True
    )

    project: Mapped[Project] = relationship()
    connection: Mapped[Connection | None] = relationship()
    __table_args__ = (UniqueConstraint("provider", "name", name="uq_sources_provider_name"),)


class Subscription(Base):
    """On these events, run this operation, and report there; `spec` is the document as given."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(Json)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A new value on every write, given by the database (migration 0009's triggers), so that
    # a process recompiles only the subscriptions that changed (ci.runs.indexes).
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")

    project: Mapped[Project] = relationship()
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_subscriptions_name"),)


class SubscriptionVersion(Base):
    """A new `version` in the transaction of every write to a project's subscriptions, whoever
    writes (the database's triggers, migration 0009): one cheap read tells a process whether
    its compiled copy of them is current. A project without a row has never had one."""

    __tablename__ = "subscription_versions"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger)


class Connection(Base):
    """A project's named connection: its kind and plain settings (`schema`), and its secret
    values, kept as one Fernet token (ci.connections.crypto) that only a run's launch opens."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    schema: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # The names are not secret: answers list them so a user sees what a run will get.
    secret_keys: Mapped[list[str]] = mapped_column(Json, default=list)
    secret: Mapped[str] = mapped_column(Text, default="")
    mount_path: Mapped[str] = mapped_column(String(512), default="")
    env: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Who made it (a principal's label); empty for rows older than migration 0017.
    created_by: Mapped[str] = mapped_column(String(256), default="", server_default="")

    project: Mapped[Project] = relationship()
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_connections_project_name"),)
