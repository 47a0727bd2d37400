"""Many runs of one project at once, and a run's status changed as the lifecycle writes it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from ci.store.db import Database
from ci.store.models import Condition, Run
from tests.dashboard import seed

DONE_CYCLE = ("succeeded", "failed", "stopped", "succeeded", "skipped")


def many(db: Database, project_name: str, count: int, prefix: str = "run") -> list[str]:
    """`count` finished runs named `{prefix}-0001`…, a minute apart (the last is the newest),
    statuses cycling through DONE_CYCLE, each with a `loss` and a push that started it;
    returns their uuids, oldest first."""
    project_id = seed.project(db, project_name)
    rows = []
    for number in range(1, count + 1):
        at = seed.START + timedelta(minutes=number)
        rows.append(
            {
                "project_id": project_id,
                "name": f"{prefix}-{number:04d}",
                "status": DONE_CYCLE[number % len(DONE_CYCLE)],
                "created_at": at,
                "updated_at": at,
                "started_at": at,
                "finished_at": at + timedelta(seconds=30 + number),
                "outputs": {"loss": round(1 / number, 6)},
                "event": {
                    "kind": "push",
                    "repo": "acme/vision",
                    "branch": "main",
                    "sha": hashlib.sha1(str(number).encode()).hexdigest(),
                },
                "inputs": {},
                "meta": {},
                "spec": {},
            }
        )
    with db.session() as session:
        # One statement: a thousand ORM adds would take longer than the page being measured.
        uuids = session.scalars(insert(Run).returning(Run.uuid, sort_by_parameter_order=True), rows)
        return list(uuids)


def change_status(db: Database, uuid: str, status: str, reason: str = "") -> None:
    """The run's status and its condition, written together as ci.runs.lifecycle writes them."""
    now = datetime.now(UTC)
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.uuid == uuid)).one()
        run.status = status
        if status in ("succeeded", "failed", "stopped"):
            run.started_at = run.started_at or now - timedelta(seconds=42)
            run.finished_at = now
        session.add(Condition(run_id=run.id, status=status, reason=reason or status.title()))
