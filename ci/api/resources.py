"""REST API for projects, webhook sources and subscriptions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci import runtime, subscriptions
from ci.api import views
from ci.api.errors import ApiError
from ci.models import Project, Source, Subscription
from webhooks.registry import providers

blueprint = Blueprint("resources", __name__, url_prefix="/api/v1")


YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml"}


def body() -> dict[str, Any]:
    """The request document, as a JSON object."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object body")
    return data


def document() -> dict[str, Any]:
    """A subscription as JSON or YAML, validated; errors carry YAML line numbers."""
    if request.mimetype in YAML_TYPES:
        return subscriptions.validate(*subscriptions.parse_document(request.get_data()))
    return subscriptions.validate(body())


def get_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise ApiError(404, f"no project named {name!r}")
    return project


def _name(data: dict[str, Any]) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise ApiError(
            422,
            "name: required, a non-empty string without '/'",
            errors=[{"path": "name", "reason": "required", "line": None}],
        )
    return name.strip()


def _commit(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise ApiError(409, f"{what} already exists") from exc


@blueprint.post("/projects")
def create_project() -> Any:
    data = body()
    with runtime.get().db.session() as session:
        project = Project(name=_name(data), description=str(data.get("description") or ""))
        session.add(project)
        _commit(session, f"project {project.name!r}")
        return jsonify(views.project(project)), 201


@blueprint.get("/projects")
def list_projects() -> Any:
    with runtime.get().db.session() as session:
        rows = session.scalars(select(Project).order_by(Project.name))
        return jsonify([views.project(p) for p in rows])


@blueprint.get("/projects/<name>")
def show_project(name: str) -> Any:
    with runtime.get().db.session() as session:
        return jsonify(views.project(get_project(session, name)))


@blueprint.post("/projects/<project_name>/sources")
def create_source(project_name: str) -> Any:
    data = body()
    provider = data.get("provider")
    if provider not in providers:
        raise ApiError(
            422,
            f"provider: unknown; known: {', '.join(providers.names())}",
            errors=[{"path": "provider", "reason": "unknown", "line": None}],
        )
    secret = data.get("secret")
    if not isinstance(secret, str) or not secret:
        raise ApiError(
            422,
            "secret: required; deliveries are verified with it",
            errors=[{"path": "secret", "reason": "required", "line": None}],
        )
    with runtime.get().db.session() as session:
        source = Source(
            project=get_project(session, project_name),
            name=_name(data),
            provider=provider,
            secret=secret,
            allow_legacy_signatures=bool(data.get("allow_legacy_signatures", False)),
        )
        session.add(source)
        _commit(session, f"{provider} source {source.name!r}")
        return jsonify(views.source(source)), 201


@blueprint.get("/projects/<project_name>/sources")
def list_sources(project_name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        rows = session.scalars(select(Source).where(Source.project_id == project.id))
        return jsonify([views.source(s) for s in rows])


@blueprint.post("/projects/<project_name>/subscriptions")
def create_subscription(project_name: str) -> Any:
    spec = document()
    with runtime.get().db.session() as session:
        row = Subscription(
            project=get_project(session, project_name), name=spec["name"].strip(), spec=spec
        )
        session.add(row)
        _commit(session, f"subscription {row.name!r}")
        return jsonify(views.subscription(row)), 201


@blueprint.get("/projects/<project_name>/subscriptions")
def list_subscriptions(project_name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        rows = session.scalars(
            select(Subscription)
            .where(Subscription.project_id == project.id)
            .order_by(Subscription.id)
        )
        return jsonify([views.subscription(s) for s in rows])


def _subscription(session: Session, project_name: str, name: str) -> Subscription:
    project = get_project(session, project_name)
    row = session.scalar(
        select(Subscription).where(Subscription.project_id == project.id, Subscription.name == name)
    )
    if row is None:
        raise ApiError(404, f"no subscription named {name!r} in project {project_name!r}")
    return row


@blueprint.get("/projects/<project_name>/subscriptions/<name>")
def show_subscription(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        return jsonify(views.subscription(_subscription(session, project_name, name)))


@blueprint.post("/projects/<project_name>/subscriptions/<name>/<action>")
def pause_subscription(project_name: str, name: str, action: str) -> Any:
    if action not in {"pause", "resume"}:
        raise ApiError(404, f"no action {action!r}; use pause or resume")
    with runtime.get().db.session() as session:
        row = _subscription(session, project_name, name)
        row.paused = action == "pause"
        return jsonify(views.subscription(row))


@blueprint.delete("/projects/<project_name>/subscriptions/<name>")
def delete_subscription(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        session.delete(_subscription(session, project_name, name))
        return "", 204
