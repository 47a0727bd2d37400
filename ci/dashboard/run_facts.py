"""What the run page shows beside the run's own row: where it came from (event, delivery and
the decision that started it), its family, what its job noted, and who was told of it."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api import views
from ci.api.notifications import attempt, hidden_values
from ci.runs import metrics, tracking
from ci.store.models import Decision, Delivery, NotificationAttempt, Run
from runners.base import RunnerUnavailable

JOB_EVENTS_SHOWN = 200
BACKEND_EVENTS_SHOWN = 200


def origin(session: Session, run: Run) -> dict[str, Any]:
    """The event that started the run, its delivery, and that delivery's decision for it."""
    event = run.event or {}
    found: dict[str, Any] = {
        "event": {k: event.get(k) for k in ("kind", "repo", "branch", "ref", "sha", "actor")},
        "delivery": None,
        "decisions": [],
    }
    if run.delivery_id is None:
        return found
    delivery = session.get(Delivery, run.delivery_id)
    if delivery is None:
        return found
    found["delivery"] = views.delivery(delivery, full=False)
    decisions = list(
        session.scalars(
            select(Decision).where(Decision.delivery_id == delivery.id, Decision.run_id == run.id)
        )
    )
    if not decisions and run.subscription_id is not None:
        # A run a controller made keeps its parent's delivery; its subscription's row says why.
        decisions = list(
            session.scalars(
                select(Decision).where(
                    Decision.delivery_id == delivery.id,
                    Decision.subscription_id == run.subscription_id,
                )
            )
        )
    found["decisions"] = [views.decision(d) for d in decisions]
    return found


def parent_of(session: Session, run: Run) -> dict[str, str] | None:
    parent = session.get(Run, run.parent_id) if run.parent_id else None
    return {"uuid": parent.uuid, "name": parent.name} if parent else None


def series_names(session: Session, run: Run) -> dict[str, list[str]]:
    """The names of the run's metric and system series, each kind sorted."""
    return {kind: sorted(metrics.summary(session, run.id, kind)) for kind in metrics.KINDS}


def notes(session: Session, run: Run) -> dict[str, Any]:
    return tracking.notes(session, run)


def job_events(session: Session, run: Run) -> list[dict[str, Any]]:
    return tracking.events(session, run, JOB_EVENTS_SHOWN, 0)


def notifications(session: Session, run: Run) -> list[dict[str, Any]]:
    """The notification log, secrets masked as the API masks them."""
    hidden = hidden_values(runtime.get().settings)
    rows = session.scalars(
        select(NotificationAttempt)
        .where(NotificationAttempt.run_id == run.id)
        .order_by(NotificationAttempt.id)
    )
    return [attempt(row, hidden) for row in rows]


def backend_events(run: Run) -> tuple[list[dict[str, Any]], str]:
    """The runner's events about the run (Kubernetes: scheduling, pulls, back-offs) and, when
    there are none to show, why."""
    if not run.external_id:
        return [], "the run has not reached its runner"
    runner = runtime.get().runner(run.runner)
    try:
        found = runner.events(run.external_id)
    except RunnerUnavailable as exc:
        return [], f"runner {run.runner!r} cannot be reached: {exc}"
    if found is None:
        return [], f"runner {run.runner!r} keeps no events"
    shown = [views.jsonable(_as_dict(e)) for e in found[-BACKEND_EVENTS_SHOWN:]]
    return shown, "" if shown else "no events"


def _as_dict(event: Any) -> Any:
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        return dataclasses.asdict(event)
    return event
