"""Rows a page shows, written straight to the site's database (each helper commits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ci.store.db import Database
from ci.store.models import Condition, Project, Run

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def project(db: Database, name: str, description: str = "") -> int:
    with db.session() as session:
        found = session.scalar(select(Project).where(Project.name == name))
        if found is None:
            found = Project(name=name, description=description)
            session.add(found)
            session.commit()
        return found.id


def run(
    db: Database,
    project_name: str,
    name: str,
    status: str = "succeeded",
    *,
    statuses: tuple[str, ...] | None = None,
    at: datetime = START,
    **fields: Any,
) -> str:
    """A run whose history walks `statuses` (by default created → … → `status`), a minute
    apart from `at`; returns its uuid."""
    project_id = project(db, project_name)
    path = statuses or ("created", "queued", "running", status)
    with db.session() as session:
        row = Run(project_id=project_id, name=name, status=path[-1], created_at=at, **fields)
        session.add(row)
        session.flush()
        for step, state in enumerate(dict.fromkeys(path)):
            when = at + timedelta(minutes=step)
            session.add(Condition(run_id=row.id, status=state, reason=state.title(), at=when))
        session.commit()
        return row.uuid
