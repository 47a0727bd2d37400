"""How API resources look as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ci.store.models import Condition, Decision, Delivery, Project, Run, Source, Subscription


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


def run(row: Run, url: str, full: bool = True) -> dict[str, Any]:
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
    }
    if full:
        data.update(
            event=row.event,
            inputs=row.inputs,
            compiled=row.compiled,
            conditions=[condition(c) for c in row.conditions],
        )
    return data


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
