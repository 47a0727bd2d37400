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
from ci.connections import crypto, records, signing
from ci.identity import enforce, members
from ci.store.models import Connection, Project, Source
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
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        secret, connection = _signing(session, project, data)
        source = Source(
            project=project,
            name=_name(data),
            provider=provider,
            secret=secret,
            connection=connection,
            allow_legacy_signatures=bool(data.get("allow_legacy_signatures", False)),
        )
        session.add(source)
        commit(session, f"{provider} source {source.name!r}")
        return jsonify(views.source(source)), 201


def _refused(path: str, reason: str) -> ApiError:
    return ApiError(
        422, f"{path}: {reason}", errors=[{"path": path, "reason": reason, "line": None}]
    )


def _signing(
    session: Session, project: Project, data: dict[str, Any]
) -> tuple[str, Connection | None]:
    """What deliveries are verified with: exactly one of the source's own `secret` (kept
    encrypted, as a connection's values are) or a project `connection` of a signing kind."""
    secret, name = data.get("secret"), data.get("connection")
    if secret is not None and name is not None:
        raise _refused("connection", "give either secret or connection, not both")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise _refused("connection", "expected the name of a project connection")
        connection = records.find(session, project.id, name)
        if connection is None:
            raise _refused(
                "connection", f"no connection named {name!r} in project {project.name!r}"
            )
        problem = signing.unfit(connection)
        if problem:
            raise _refused("connection", problem)
        return "", connection
    if not isinstance(secret, str) or not secret:
        raise _refused(
            "secret",
            "required (or connection: a project connection); deliveries are verified with it",
        )
    if len(secret) > MAX_SOURCE_SECRET:
        raise _refused("secret", f"at most {MAX_SOURCE_SECRET} characters")
    return crypto.seal_text(runtime.get(), secret), None


@blueprint.get("/projects/<project_name>/sources")
def list_sources(project_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        query = select(Source).where(Source.project_id == project.id).order_by(Source.name)
        rows = session.scalars(query.limit(limit).offset(offset))
        return jsonify([views.source(s) for s in rows])
