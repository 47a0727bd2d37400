"""REST API for projects and webhook sources."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci import runtime
from ci.api import views
from ci.api.errors import ApiError, json_body, page_params
from ci.connections import crypto
from ci.identity import enforce, members
from ci.store.models import Project, Source
from webhooks.registry import providers

blueprint = Blueprint("resources", __name__, url_prefix="/api/v1")
MAX_SOURCE_SECRET = 256  # its Fernet token (at most 440 characters) fits the column


def body() -> dict[str, Any]:
    """The request document, as a JSON object."""
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object body")
    return data


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


def commit(session: Session, what: str) -> None:
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
        commit(session, f"project {project.name!r}")
        try:
            members.place_project(session, project, data.get("org"), enforce.current())
        except members.MemberError as exc:
            raise ApiError(exc.status, exc.message) from None
        return jsonify(views.project(project)), 201


@blueprint.get("/projects")
def list_projects() -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        query = enforce.only_readable(session, select(Project), Project.id)
        rows = session.scalars(query.order_by(Project.name).limit(limit).offset(offset))
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
    if len(secret) > MAX_SOURCE_SECRET:
        reason = f"at most {MAX_SOURCE_SECRET} characters"
        raise ApiError(
            422,
            f"secret: {reason}",
            errors=[{"path": "secret", "reason": reason, "line": None}],
        )
    with runtime.get().db.session() as session:
        source = Source(
            project=get_project(session, project_name),
            name=_name(data),
            provider=provider,
            # Kept encrypted, as a connection's values are; intake opens it to verify.
            secret=crypto.seal_text(runtime.get(), secret),
            allow_legacy_signatures=bool(data.get("allow_legacy_signatures", False)),
        )
        session.add(source)
        commit(session, f"{provider} source {source.name!r}")
        return jsonify(views.source(source)), 201


@blueprint.get("/projects/<project_name>/sources")
def list_sources(project_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        query = select(Source).where(Source.project_id == project.id).order_by(Source.name)
        rows = session.scalars(query.limit(limit).offset(offset))
        return jsonify([views.source(s) for s in rows])
