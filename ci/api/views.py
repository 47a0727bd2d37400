"""How API resources look as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from ci.runs import approval, services, trials
from ci.schedules import controller as schedule_controller
from ci.store.models import Condition, Decision, Delivery, Project, Run, Source, Subscription

# A run's view lists this many of its children; GET /api/v1/runs/<uuid>/children pages them all.
CHILDREN_SHOWN = 100


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def jsonable(value: Any) -> Any:
    """`value` with its datetimes as ISO 8601 strings, for JSON answers."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def project(row: Project) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "created_at": _time(row.created_at),
    }


def source(row: Source) -> dict[str, Any]:
    # The secret is write-only: it never leaves the server.
    return {
        "id": row.id,
        "name": row.name,
        "provider": row.provider,
        "project": row.project.name,
        "url": f"/webhooks/{row.provider}/{row.name}",
        "allow_legacy_signatures": row.allow_legacy_signatures,
        # The name of the connection whose secret verifies deliveries, never its value.
        "connection": row.connection.name if row.connection else None,
        "created_at": _time(row.created_at),
    }


def subscription(row: Subscription) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "project": row.project.name,
        "paused": row.paused,
        "spec": row.spec,
        "created_at": _time(row.created_at),
    }


def condition(row: Condition) -> dict[str, Any]:
    return {"status": row.status, "reason": row.reason, "message": row.message, "at": _time(row.at)}


def run(
    row: Run, url: str, full: bool = True, described: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`described`: the run's `params` and `metric` as a list found them for all its rows
    (ci.runs.trials.describe); looked up for this run alone when not given."""
    data: dict[str, Any] = {
        "uuid": row.uuid,
        "name": row.name,
        "project": row.project.name,
        "kind": row.kind,
        "status": row.status,
        "subscription": row.subscription.name if row.subscription else None,
        "delivery": row.delivery_id,
        "runner": row.runner,
        "external_id": row.external_id,
        "created_at": _time(row.created_at),
        "started_at": _time(row.started_at),
        "finished_at": _time(row.finished_at),
        "duration": row.duration,
        "outputs": row.outputs,
        "url": url,
        # A service run opens here while it runs (ci.api.service_proxy); null otherwise.
        "service_url": services.open_url(row.status, row.compiled, url),
        **lineage(row),
        **place(row),
        **search(row, described),
    }
    if full:
        data.update(
            clones=clones(row),
            **family(row),
            event=row.event,
            inputs=row.inputs,
            compiled=row.compiled,
            conditions=[condition(c) for c in row.conditions],
        )
        if row.kind == schedule_controller.KIND:
            data["schedule"] = schedule(row)
    return data


def search(row: Run, described: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trial's `params` and its value of its search's `metric` ({name, value}); a search's
    `best` trial so far. None where the run has none."""
    session = object_session(row)
    if session is None:
        return {"params": None, "metric": None, "best": None}
    if described is None:
        described = trials.describe(session, [row])[row.id]
    found = trials.best(session, row.meta) if row.kind == "matrix" else None
    return {**described, "best": found.as_dict() if found else None}


def schedule(row: Run) -> dict[str, Any] | None:
    """A schedule controller's own schedule: its state and why, its next slot, slots fired."""
    session = object_session(row)
    found = schedule_controller.schedule_of(session, row.id) if session else None
    if found is None:
        return None
    return {
        "spec": found.spec,
        "state": found.state,
        "reason": found.reason,
        "next_slot_at": _time(found.next_slot_at),
        "next_fire_at": _time(found.next_fire_at),
        "last_fire_at": _time(found.last_fire_at),
        "fired_count": found.fired_count,
    }


def lineage(row: Run) -> dict[str, Any]:
    """The run this one restarts, resumes or copies (`cloning_kind`), and its attempt."""
    session = object_session(row)
    original = session.get(Run, row.original_id) if session and row.original_id else None
    return {
        "original": original.uuid if original else None,
        "cloning_kind": row.cloning_kind,
        "attempt": row.attempt,
    }


def place(row: Run) -> dict[str, Any]:
    """Where the run sits in its tree: its number, the run that made it, its name there, what
    it waits for (`pending`, as Polyaxon's) and who let it go when it waited for approval."""
    session = object_session(row)
    parent = session.get(Run, row.parent_id) if session and row.parent_id else None
    return {
        "id": row.id,
        "parent": parent.uuid if parent else None,
        "op_name": row.op_name,
        "pending": row.pending,
        "approved_by": approval.approved_by(row),
    }


def family(row: Run, shown: int = CHILDREN_SHOWN) -> dict[str, Any]:
    """The first `shown` children of the run, oldest first, and how many it has."""
    session = object_session(row)
    if session is None:
        return {"children": [], "children_count": 0}
    below = select(Run).where(Run.parent_id == row.id)
    count = session.scalar(select(func.count()).select_from(below.subquery())) or 0
    found = list(session.scalars(below.order_by(Run.id).limit(shown))) if count else []
    return {"children": [child(c) for c in found], "children_count": count}


def child(row: Run) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "name": row.name,
        "op_name": row.op_name,
        "kind": row.kind,
        "status": row.status,
    }


def clones(row: Run) -> list[dict[str, Any]]:
    """The runs restarted or copied from this one, oldest first."""
    session = object_session(row)
    if session is None:
        return []
    found = session.scalars(select(Run).where(Run.original_id == row.id).order_by(Run.id))
    return [{"uuid": c.uuid, "cloning_kind": c.cloning_kind, "status": c.status} for c in found]


def decision(row: Decision) -> dict[str, Any]:
    return {
        "event_index": row.event_index,
        "event": {k: row.event.get(k) for k in ("kind", "repo", "ref", "sha", "actor")},
        "subscription": row.subscription_name,
        "matched": row.matched,
        "checks": row.checks,
        "run": row.run.uuid if row.run else None,
    }


def delivery(row: Delivery, full: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "provider": row.provider,
        "source": row.source.name if row.source else None,
        "delivery_id": row.dedupe_key,
        "event": row.event_name,
        "status": row.status,
        "reason": row.reason,
        "received_at": _time(row.received_at),
        "processed_at": _time(row.processed_at),
    }
    if full:
        data.update(headers=row.headers, decisions=[decision(d) for d in row.decisions])
    return data
