"""Runs to admit under quotas: created in a project with a queue and resources of their own."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ci.runs import lifecycle
from ci.store.db import Database
from ci.store.models import Project, Quota, Run
from runners.base import RunSpec
from runners.local import LocalRunner
from tests.ci.conftest import PUSHED_SHA, operation


def project_id(db: Database, name: str) -> int:
    """The project's id, the project made first if there is none."""
    with db.session() as session:
        found = session.scalar(select(Project.id).where(Project.name == name))
        if found is not None:
            return found
        project = Project(name=name)
        session.add(project)
        session.flush()
        return project.id


def new_run(
    db: Database, project: str, queue: str | None = None, requests: dict[str, Any] | None = None
) -> int:
    """A created run of a job in `project`, sent to `queue`, asking for `requests`."""
    spec = operation()
    if queue:
        spec["queue"] = queue
    if requests:
        spec["component"]["run"]["container"]["resources"] = {"requests": requests}
    owner = project_id(db, project)
    with db.session() as session:
        run = Run(project_id=owner, name="train", spec=spec, event={"sha": PUSHED_SHA})
        lifecycle.create(session, run)
        session.flush()
        return run.id


def set_quota(db: Database, kind: str, name: str, **limits: Any) -> None:
    with db.session() as session:
        session.add(Quota(scope_kind=kind, scope_name=name, **limits))


def status_of(db: Database, run_id: int) -> tuple[str, str]:
    """The run's status and the message of its latest condition."""
    with db.session() as session:
        run = session.get(Run, run_id)
        return run.status, run.conditions[-1].message


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> list[RunSpec]:
    """The local runner takes each run and holds it (no process starts): what it was given."""
    taken: list[RunSpec] = []

    def take(self: LocalRunner, spec: RunSpec) -> str:
        taken.append(spec)  # list.append is atomic: threads may submit at once
        return f"held-{spec.uuid}"

    monkeypatch.setattr(LocalRunner, "submit", take)
    return taken
