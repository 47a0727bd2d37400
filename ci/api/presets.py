"""REST API for a project's run profiles: its presets (by name, or default) and its queues.

A preset is written as `{"name", "preset": <a partial operation, a mapping or YAML text>,
"default": bool}`; a queue as `PUT /queues/<name> {"priority": int}` (a queue never named here
has priority 0).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from ci import runtime
from ci.api import preset_routes
from ci.api.errors import ApiError, page_params
from ci.api.preset_documents import invalid, view
from ci.api.resources import body, get_project
from ci.runs import presets
from ci.store.models import Preset, RunQueue

blueprint = Blueprint("presets", __name__, url_prefix="/api/v1/projects/<project_name>")
PRIORITY_RANGE = (-1000, 1000)
preset_routes.register(
    blueprint, preset_routes.PresetOwner(Preset, "project_id", get_project, "project"), "preset"
)


@blueprint.get("/presets")
def list_presets(project_name: str) -> Any:
    """The project's own presets; with `inherited=true`, every preset its runs may name, its
    org's included (`scope` says whose), as a run resolves them."""
    limit, offset = page_params()
    inherited = request.args.get("inherited", "false").lower()
    if inherited not in ("true", "false"):
        raise ApiError(400, f"inherited: expected true or false, not {inherited[:20]!r}")
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        if inherited == "true":
            every = presets.rows_of(session, project.id)[offset : offset + limit]
            return jsonify([view(row) for row in every])
        rows = session.scalars(
            select(Preset)
            .where(Preset.project_id == project.id)
            .order_by(Preset.name)
            .limit(limit)
            .offset(offset)
        )
        return jsonify([view(row) for row in rows])


@blueprint.get("/queues")
def list_queues(project_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        rows = session.scalars(
            select(RunQueue)
            .where(RunQueue.project_id == project.id)
            .order_by(RunQueue.priority.desc(), RunQueue.name)
            .limit(limit)
            .offset(offset)
        )
        return jsonify([{"name": row.name, "priority": row.priority} for row in rows])


@blueprint.put("/queues/<name>")
def set_queue(project_name: str, name: str) -> Any:
    data = body()
    unknown = sorted(set(data) - {"priority"})
    if unknown:
        raise invalid(unknown[0], "unknown key; known: priority")
    priority = data.get("priority", 0)
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        raise invalid("priority", f"expected a whole number from {low} to {high}")
    if not name.strip() or len(name) > 128:
        raise invalid("name", "a non-empty queue name of at most 128 characters")
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        row = session.scalar(
            select(RunQueue).where(RunQueue.project_id == project.id, RunQueue.name == name)
        )
        if row is None:
            row = RunQueue(project_id=project.id, name=name)
            session.add(row)
        row.priority = priority
        session.flush()
        return jsonify({"name": row.name, "priority": row.priority})


@blueprint.delete("/queues/<name>")
def delete_queue(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        row = session.scalar(
            select(RunQueue).where(RunQueue.project_id == project.id, RunQueue.name == name)
        )
        if row is None:
            raise ApiError(404, f"no queue named {name!r} in project {project_name!r}")
        session.delete(row)
    return "", 204
