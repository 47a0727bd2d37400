"""REST API for a project's connections: written with their secret values, answered without.

An answer shows a connection's name, kind, plain settings (`schema`), how it is mounted, and
the names of its secret values; the values themselves are write-only and never leave the
server, not in an answer, not in an error.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError, page_params
from ci.api.resources import body, commit, get_project
from ci.connections import records, signing
from ci.connections.crypto import SecretsKeyError
from ci.identity import enforce
from ci.store.models import Connection

blueprint = Blueprint("connections", __name__, url_prefix="/api/v1/projects/<project_name>")


def view(row: Connection) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "schema": row.schema or {},
        "secret_keys": list(row.secret_keys or ()),
        "mount_path": row.mount_path or None,
        "env": row.env or {},
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "created_by": row.created_by or None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def creator() -> str:
    """Who is making a connection now, as the audit log names them."""
    principal = enforce.current()
    return principal.label[:256] if principal is not None else ""


def _invalid(exc: records.ConnectionInvalid) -> ApiError:
    problem = {"path": exc.path, "reason": exc.reason, "line": None}
    return ApiError(422, str(exc), errors=[problem])


def _get(session: Session, project_name: str, name: str) -> Connection:
    project = get_project(session, project_name)
    row = records.find(session, project.id, name)
    if row is None:
        raise ApiError(404, f"no connection named {name!r} in project {project_name!r}")
    return row


@blueprint.post("/connections")
def create(project_name: str) -> Any:
    data = body()
    rt = runtime.get()
    with rt.db.session() as session:
        project = get_project(session, project_name)
        try:
            row = records.create(rt, project.id, data)
        except records.ConnectionInvalid as exc:
            raise _invalid(exc) from None
        except SecretsKeyError as exc:
            raise ApiError(503, str(exc)) from None
        row.created_by = creator()
        session.add(row)
        commit(session, f"connection {row.name!r}")
        return jsonify(view(row)), 201


@blueprint.get("/connections")
def list_all(project_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        rows = session.scalars(
            select(Connection)
            .where(Connection.project_id == project.id)
            .order_by(Connection.name)
            .limit(limit)
            .offset(offset)
        )
        return jsonify([view(row) for row in rows])


@blueprint.get("/connections/<name>")
def show(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        return jsonify(view(_get(session, project_name, name)))


@blueprint.patch("/connections/<name>")
def change(project_name: str, name: str) -> Any:
    data = body()
    rt = runtime.get()
    with rt.db.session() as session:
        row = _get(session, project_name, name)
        try:
            records.update(rt, row, data)
        except records.ConnectionInvalid as exc:
            raise _invalid(exc) from None
        except SecretsKeyError as exc:
            raise ApiError(503, str(exc)) from None
        session.flush()
        return jsonify(view(row))


@blueprint.delete("/connections/<name>")
def delete(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        row = _get(session, project_name, name)
        using = signing.users(session, row)
        if using:
            raise ApiError(
                409,
                f"connection {name!r} verifies the deliveries of sources {', '.join(using)}; "
                "delete them or give them another secret first",
            )
        session.delete(row)
    return "", 204
