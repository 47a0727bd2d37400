"""What a run's admission looks up beside its spec: presets (a project's and an org's), queues
and quotas, and the version that says when any of them changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models.columns import Json


class ProfileVersion(Base):
    """One row whose `version` changes in the transaction of every write to presets, org
    presets or quotas, whoever writes (the database's triggers, migration 0020): one cheap read
    tells a process whether what it knows of them (ci.runs.profiles) is current."""

    __tablename__ = "profile_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (CheckConstraint("id = 1", name="profile_versions_one_row"),)


class Preset(Base):
    """A project's named preset: a partial operation merged into each operation naming it in
    `presets:`, or into every operation of the project when it is a default."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_presets_project_name"),)


class OrgPreset(Base):
    """An org's named preset, for every project of the org: a project's preset of the same
    name overrides it, and an org default is merged into each of the org's runs."""

    __tablename__ = "org_presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_org_presets_org_name"),)


class RunQueue(Base):
    """A project's queue: the higher its priority, the sooner its waiting runs are admitted."""

    __tablename__ = "run_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_run_queues_project_name"),)


class Quota(Base):
    """Limits on what the runs of one scope (an org, a team or a project) hold at once; a null
    limit is no limit. CPU is in cores, memory in bytes."""

    __tablename__ = "quotas"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_name: Mapped[str] = mapped_column(String(128))
    runs: Mapped[int | None] = mapped_column(Integer)
    cpu: Mapped[float | None] = mapped_column(Float)
    memory: Mapped[int | None] = mapped_column(BigInteger)
    gpu: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("scope_kind", "scope_name", name="uq_quotas_scope"),)
