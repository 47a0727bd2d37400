"""REST API for a run's notification log: every attempt to tell each target of each status."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import select

from ci import runtime
from ci.api.errors import ApiError, page_params
from ci.config import Settings
from ci.store.models import NotificationAttempt, Project, Run
from notifiers import http

blueprint = Blueprint("notifications", __name__, url_prefix="/api/v1")


@blueprint.get("/runs/<uuid>/notifications")
def list_notifications(uuid: str) -> Any:
    return _log(uuid, project=None)


@blueprint.get("/projects/<project_name>/runs/<uuid>/notifications")
def list_project_notifications(project_name: str, uuid: str) -> Any:
    return _log(uuid, project=project_name)


def _log(uuid: str, project: str | None) -> Any:
    rt = runtime.get()
    limit, offset = page_params()
    with rt.db.session() as session:
        query = select(Run).where(Run.uuid == uuid)
        if project is not None:
            query = query.join(Project).where(Project.name == project)
        run = session.scalar(query)
        if run is None:
            raise ApiError(404, f"no run {uuid!r}" + (f" in {project!r}" if project else ""))
        rows = session.scalars(
            select(NotificationAttempt)
            .where(NotificationAttempt.run_id == run.id)
            .order_by(NotificationAttempt.id)
            .limit(limit)
            .offset(offset)
        )
        hidden = hidden_values(rt.settings)
        return jsonify([attempt(row, hidden) for row in rows])


def attempt(row: NotificationAttempt, hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "target": row.target,
        "notifier": row.notifier,
        "via": row.via,
        "status": row.status,
        "state": row.state,
        "http_status": row.http_status,
        # Notifiers mask what they know; this also masks the settings' own credentials in
        # case a target echoed one back in words the notifier did not recognise.
        "reason": http.mask(row.reason, hidden),
        "receipt_id": row.receipt_id,
        "at": row.at.isoformat(),
    }


def hidden_values(settings: Settings) -> tuple[str, ...]:
    """What a notification reason must never show: the settings' credentials."""
    found: list[str] = []
    for value in settings.secrets():
        found += http.url_secrets(value) if "://" in value else [value]
    return tuple(found)
