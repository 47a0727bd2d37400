"""A project's connections: each one's kind, who made it and when, and what it mounts into a
run; a form to add one and a button to delete one. A secret value goes in through the form and
never comes back out: the page names a connection's secret keys, never their values."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select

from ci import runtime
from ci.api.connections import creator
from ci.api.errors import ApiError
from ci.api.resources import commit, get_project
from ci.connections import records
from ci.connections.crypto import SecretsKeyError
from ci.store.models import Connection

blueprint = Blueprint("connections_page", __name__, url_prefix="/projects/<project_name>")


class FormInvalid(ValueError):
    """A line of the form that is not `name=value`: the field and the line's number."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.path, self.reason = field, reason


def pairs(field: str) -> dict[str, str]:
    """A textarea of `name=value` lines as a mapping; blank lines are skipped. The reason for
    a bad line names its number only, so a secret typed there is never shown back."""
    found: dict[str, str] = {}
    for number, line in enumerate(request.form.get(field, "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise FormInvalid(field, f"line {number}: expected name=value")
        found[name.strip()] = value
    return found


def _fields() -> dict[str, Any]:
    return {
        "name": request.form.get("name", "").strip(),
        "kind": request.form.get("kind", ""),
        "schema": pairs("schema"),
        "secret": pairs("secret"),
        "mount_path": request.form.get("mount_path", "").strip(),
        "env": {variable: key.strip() for variable, key in pairs("env").items()},
    }


def _page(project_name: str, error: str | None = None, status: int = 200) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        rows = session.scalars(
            select(Connection).where(Connection.project_id == project.id).order_by(Connection.name)
        ).all()
        # Only what was typed in the plain fields comes back; secret values are typed again.
        kept = {key: request.form.get(key, "") for key in ("name", "kind", "schema", "mount_path")}
        html = render_template(
            "connections.html",
            project=project,
            connections=rows,
            kinds=records.KINDS,
            error=error,
            kept=kept if error else {},
        )
        return html, status


@blueprint.get("/connections")
def page(project_name: str) -> Any:
    return _page(project_name)


@blueprint.post("/connections")
def create(project_name: str) -> Any:
    rt = runtime.get()
    try:
        data = _fields()
        with rt.db.session() as session:
            project = get_project(session, project_name)
            row = records.create(rt, project.id, data)
            row.created_by = creator()
            session.add(row)
            commit(session, f"connection {row.name!r}")
    except (FormInvalid, records.ConnectionInvalid) as exc:
        return _page(project_name, f"{exc.path}: {exc.reason}", 422)
    except ApiError as exc:
        if exc.status != 409:
            raise
        return _page(project_name, str(exc), 409)
    except SecretsKeyError as exc:
        return _page(project_name, str(exc), 503)
    return redirect(url_for("connections_page.page", project_name=project_name), 303)


@blueprint.post("/connections/<name>/delete")
def delete(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        row = records.find(session, project.id, name)
        if row is None:
            raise ApiError(404, f"no connection named {name!r} in project {project_name!r}")
        session.delete(row)
    return redirect(url_for("connections_page.page", project_name=project_name), 303)
