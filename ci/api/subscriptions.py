"""REST API for subscriptions: one at a time, or a whole file of them applied at once."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api import views
from ci.api.errors import ApiError, json_body, page_params
from ci.api.resources import body, commit, get_project
from ci.compile.refs import ref_options
from ci.intake import documents
from ci.runs import routing
from ci.schedules import sync
from ci.store.models import Project, Subscription
from schemas.errors import SpecError, SpecErrors

blueprint = Blueprint("subscriptions", __name__, url_prefix="/api/v1/projects/<project_name>")
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml"}


def document() -> dict[str, Any]:
    """A subscription as JSON or YAML, validated; errors carry YAML line numbers."""
    if request.mimetype in YAML_TYPES:
        data, lines = documents.parse_document(request.get_data())
        if not isinstance(data, dict):
            raise SpecErrors([SpecError("", "a subscription is a mapping", 1)])
        return documents.validate(data, lines, **_checks())
    return documents.validate(body(), **_checks())


def _checks() -> dict[str, Any]:
    """What the deployment checks an operation against: the run kinds its runner runs, with
    the components its references name."""
    settings = runtime.get().settings
    route = partial(routing.kind_for, settings)
    return {"runner": settings.runner, "refs": ref_options(settings), "route": route}


def find(session: Session, project: Project, name: str) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(Subscription.project_id == project.id, Subscription.name == name)
    )


def get(session: Session, project_name: str, name: str) -> Subscription:
    row = find(session, get_project(session, project_name), name)
    if row is None:
        raise ApiError(404, f"no subscription named {name!r} in project {project_name!r}")
    return row


@blueprint.post("/subscriptions")
def create(project_name: str) -> Any:
    spec = document()
    with runtime.get().db.session() as session:
        row = Subscription(
            project=get_project(session, project_name), name=spec["name"].strip(), spec=spec
        )
        session.add(row)
        commit(session, f"subscription {row.name!r}")
        sync.sync_subscription(session, row)
        return jsonify(views.subscription(row)), 201


@blueprint.put("/subscriptions")
def apply(project_name: str) -> Any:
    """Make the project's subscriptions those of the file: create, update, and with
    `?prune=true` delete the ones it no longer lists. All or nothing."""
    if request.mimetype in YAML_TYPES:
        docs = documents.validate_many(request.get_data(), **_checks())
    else:
        data = json_body()
        if not isinstance(data, dict | list):
            raise ApiError(400, "expected a JSON object or list body (or YAML)")
        docs = documents.validate_many(data, **_checks())
    prune = request.args.get("prune", "false").lower() in {"1", "true", "yes"}
    outcome: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "deleted": []}
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        for spec in docs:
            name = spec["name"].strip()
            row = find(session, project, name)
            if row is None:
                row = Subscription(project=project, name=name, spec=spec)
                session.add(row)
                outcome["created"].append(name)
            elif row.spec != spec:
                row.spec = spec
                outcome["updated"].append(name)
            else:
                outcome["unchanged"].append(name)
                continue
            session.flush()
            sync.sync_subscription(session, row)
        if prune:
            listed = {spec["name"].strip() for spec in docs}
            rows = session.scalars(
                select(Subscription).where(Subscription.project_id == project.id)
            )
            for row in rows:
                if row.name not in listed:
                    session.delete(row)
                    outcome["deleted"].append(row.name)
    return jsonify(outcome)


@blueprint.get("/subscriptions")
def list_all(project_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        rows = session.scalars(
            select(Subscription)
            .where(Subscription.project_id == project.id)
            .order_by(Subscription.id)
            .limit(limit)
            .offset(offset)
        )
        return jsonify([views.subscription(s) for s in rows])


@blueprint.get("/subscriptions/<name>")
def show(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        return jsonify(views.subscription(get(session, project_name, name)))


@blueprint.put("/subscriptions/<name>")
def replace(project_name: str, name: str) -> Any:
    spec = document()
    if spec["name"].strip() != name:
        raise ApiError(422, f"name: the document names {spec['name']!r}, the URL {name!r}")
    with runtime.get().db.session() as session:
        row = get(session, project_name, name)
        row.spec = spec
        sync.sync_subscription(session, row)
        return jsonify(views.subscription(row))


@blueprint.post("/subscriptions/<name>/<action>")
def pause_or_resume(project_name: str, name: str, action: str) -> Any:
    if action not in {"pause", "resume"}:
        raise ApiError(404, f"no action {action!r}; use pause or resume")
    with runtime.get().db.session() as session:
        row = get(session, project_name, name)
        row.paused = action == "pause"
        sync.sync_subscription(session, row)
        return jsonify(views.subscription(row))


@blueprint.get("/subscriptions/<name>/schedules")
def schedules(project_name: str, name: str) -> Any:
    """The subscription's schedules: state, next slot, and recent slots fired or skipped."""
    with runtime.get().db.session() as session:
        shown = sync.history(session, get(session, project_name, name).id)
    return jsonify(views.jsonable(shown))


@blueprint.delete("/subscriptions/<name>")
def delete(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        session.delete(get(session, project_name, name))
        return "", 204
