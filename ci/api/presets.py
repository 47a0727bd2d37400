"""REST API for a project's run profiles: its presets (by name, or default) and its queues.

A preset is written as `{"name", "preset": <a partial operation, a mapping or YAML text>,
"default": bool}`; a queue as `PUT /queues/<name> {"priority": int}` (a queue never named here
has priority 0).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError, page_params
from ci.api.resources import body, commit, get_project
from ci.runs import presets
from ci.store.models import OrgPreset, Preset, RunQueue

blueprint = Blueprint("presets", __name__, url_prefix="/api/v1/projects/<project_name>")
PRESET_KEYS = frozenset({"name", "preset", "default"})
PRIORITY_RANGE = (-1000, 1000)


def view(row: Preset | OrgPreset) -> dict[str, Any]:
    return {
        "name": row.name,
        "scope": "org" if isinstance(row, OrgPreset) else "project",
        "default": row.is_default,
        "preset": row.document,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def invalid(path: str, reason: str) -> ApiError:
    return ApiError(
        422, f"{path}: {reason}", errors=[{"path": path, "reason": reason, "line": None}]
    )


def replacement(name: str) -> tuple[dict[str, Any], bool]:
    """The document and default flag a PUT gives the preset `name`, which keeps its name."""
    data = body()
    if data.get("name", name) != name:
        raise invalid("name", "a preset keeps its name: create one under the new name")
    return fields(data, name)


def fields(data: dict[str, Any], name: str) -> tuple[dict[str, Any], bool]:
    unknown = sorted(set(data) - PRESET_KEYS)
    if unknown:
        raise invalid(unknown[0], f"unknown key; known: {', '.join(sorted(PRESET_KEYS))}")
    default = data.get("default", False)
    if not isinstance(default, bool):
        raise invalid("default", "expected true or false")
    if "preset" not in data:
        raise invalid("preset", "required: the preset document (a mapping or YAML text)")
    try:
        return presets.parse(name, data["preset"]), default
    except presets.PresetInvalid as exc:
        raise invalid(exc.path, exc.reason) from None


def _get(session: Session, project_name: str, name: str) -> Preset:
    project = get_project(session, project_name)
    row = session.scalar(select(Preset).where(Preset.project_id == project.id, Preset.name == name))
    if row is None:
        raise ApiError(404, f"no preset named {name!r} in project {project_name!r}")
    return row


@blueprint.post("/presets")
def create_preset(project_name: str) -> Any:
    data = body()
    name = data.get("name")
    if not isinstance(name, str):
        raise invalid("name", "required, a non-empty string")
    document, default = fields(data, name)
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        row = Preset(project_id=project.id, name=name, document=document, is_default=default)
        session.add(row)
        commit(session, f"preset {name!r}")
        return jsonify(view(row)), 201


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


@blueprint.get("/presets/<name>")
def show_preset(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        return jsonify(view(_get(session, project_name, name)))


@blueprint.put("/presets/<name>")
def change_preset(project_name: str, name: str) -> Any:
    document, default = replacement(name)
    with runtime.get().db.session() as session:
        row = _get(session, project_name, name)
        row.document, row.is_default = document, default
        session.flush()
        return jsonify(view(row))


@blueprint.delete("/presets/<name>")
def delete_preset(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        session.delete(_get(session, project_name, name))
    return "", 204


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
