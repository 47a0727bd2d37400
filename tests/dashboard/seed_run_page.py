"""What the run page shows beyond a run's row: series, a delivery with its decision, a
notification attempt, artifacts, live logs (each helper commits)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from ci.artifacts import store
from ci.config import Settings
from ci.runs import series
from ci.store.db import Database
from ci.store.models import (
    Condition,
    Decision,
    Delivery,
    MetricChunk,
    NotificationAttempt,
    Run,
    RunEvent,
    RunTracking,
)
from runners.local_supervisor import LOGS
from tests.dashboard.seed import START

EPOCH = START.timestamp()


def points(
    db: Database, uuid: str, name: str, values: Sequence[float], kind: str = "metric"
) -> None:
    """The run's series `name`: value i at step i, taken 2 s after the one before."""
    count = len(values)
    packed = np.empty(count, dtype=series.POINT)
    packed["step"] = np.arange(count)
    packed["time"] = EPOCH + 2.0 * np.arange(count)
    packed["value"] = np.asarray(values, dtype=np.float64)
    with db.session() as session:
        run_id = session.scalar(select(Run.id).where(Run.uuid == uuid))
        for chunk in range(0, (count + series.CHUNK - 1) // series.CHUNK):
            part = packed[chunk * series.CHUNK : (chunk + 1) * series.CHUNK]
            session.add(
                MetricChunk(
                    run_id=run_id,
                    kind=kind,
                    name=name,
                    chunk=chunk,
                    count=len(part),
                    points=part.tobytes(),
                )
            )
        session.commit()


def decided_by(
    db: Database, uuid: str, subscription: str, checks: list[tuple[str, bool, str]]
) -> int:
    """A processed GitHub push delivery whose decision for `subscription` started the run;
    returns the delivery's id."""
    event = {
        "kind": "push",
        "repo": "acme/vision",
        "branch": "main",
        "ref": "refs/heads/main",
        "sha": "4f2a9c1d0e8b7a6f5e4d3c2b1a09f8e7d6c5b4a3",
        "actor": "octocat",
    }
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.uuid == uuid)).one()
        delivery = Delivery(
            provider="github", dedupe_key=f"delivery-{uuid}", event_name="push", status="processed"
        )
        session.add(delivery)
        session.flush()
        session.add(
            Decision(
                delivery_id=delivery.id,
                event=event,
                subscription_name=subscription,
                matched=True,
                checks=[{"check": c, "ok": ok, "reason": why} for c, ok, why in checks],
                run_id=run.id,
            )
        )
        run.delivery_id, run.event = delivery.id, event
        session.commit()
        return delivery.id


def notified(db: Database, uuid: str, target: str, reason: str, state: str = "failed") -> None:
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.uuid == uuid)).one()
        condition = session.scalars(
            select(Condition).where(Condition.run_id == run.id).order_by(Condition.id.desc())
        ).first()
        assert condition is not None
        session.add(
            NotificationAttempt(
                run_id=run.id,
                condition_id=condition.id,
                target=target,
                notifier="slack",
                status=condition.status,
                state=state,
                http_status=500,
                reason=reason,
                at=START,
            )
        )
        session.commit()


def artifact(settings: Settings, uuid: str, path: str, data: bytes) -> None:
    store.for_settings(settings).put_bytes(uuid, path, data)


def runner_logs(settings: Settings, external_id: str, text: str) -> None:
    """Append to the live logs the local runner keeps for a run it runs."""
    run_dir = Path(settings.runs_dir) / external_id
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / LOGS).open("a") as out:
        out.write(text)


def noted(
    db: Database,
    uuid: str,
    tags: list[str],
    description: str,
    progress: dict[str, Any],
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    """What the run's job said of itself: tags, description, progress and events."""
    with db.session() as session:
        run_id = session.scalar(select(Run.id).where(Run.uuid == uuid))
        assert run_id is not None
        session.add(
            RunTracking(run_id=run_id, tags=tags, description=description, progress=progress)
        )
        for name, data in events:
            session.add(RunEvent(run_id=run_id, name=name, data=data, at=START))
        session.commit()
