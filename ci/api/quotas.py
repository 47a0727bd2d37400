"""REST API for quotas: set per scope (org, team `<org>/<team>`, project), read with usage.

A quota is `{"runs": int, "cpu": cores or a quantity ("500m"), "memory": bytes or a quantity
("16Gi"), "gpu": int}`; a missing or null limit is no limit. `GET /projects/<p>/quotas` shows
every quota the project's runs count against, with what they hold now.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError, page_params
from ci.api.resources import body, get_project
from ci.runs import quantities, quotas
from ci.store.models import Quota

blueprint = Blueprint("quotas", __name__, url_prefix="/api/v1")
# The most each limit's column holds (memory in bytes, CPU in cores).
LARGEST = {"runs": 2**31 - 1, "cpu": 10**6, "memory": 2**62, "gpu": 2**31 - 1}


def view(row: Quota) -> dict[str, Any]:
    return {"scope": {"kind": row.scope_kind, "name": row.scope_name}, **quotas.limits(row)}


def _invalid(path: str, reason: str) -> ApiError:
    return ApiError(
        422, f"{path}: {reason}", errors=[{"path": path, "reason": reason, "line": None}]
    )


def _limits(data: dict[str, Any]) -> dict[str, Any]:
    """The limits of a quota document, each checked; ApiError(422) names the field."""
    unknown = sorted(set(data) - set(quotas.LIMITS))
    if unknown:
        raise _invalid(unknown[0], f"unknown key; known: {', '.join(quotas.LIMITS)}")
    found: dict[str, Any] = {}
    for name in quotas.LIMITS:
        value = data.get(name)
        if value is None:
            found[name] = None
            continue
        try:
            number = quantities.parse(value)
        except quantities.QuantityError as exc:
            raise _invalid(name, str(exc)) from None
        if number < 0:
            raise _invalid(name, "expected a limit of 0 or more")
        if number > LARGEST[name]:
            raise _invalid(name, f"expected a limit of at most {LARGEST[name]}")
        if name in ("runs", "gpu") and number != int(number):
            raise _invalid(name, "expected a whole number")
        if name == "cpu":
            found[name] = float(number)
        elif name == "memory":
            found[name] = quantities.memory(value)
        else:
            found[name] = int(number)
    if number_of_limits(found) == 0:
        raise _invalid("runs", "a quota needs at least one limit: runs, cpu, memory or gpu")
    return found


def number_of_limits(found: dict[str, Any]) -> int:
    return sum(value is not None for value in found.values())


def _scope(kind: str, name: str) -> tuple[str, str]:
    if kind not in quotas.KINDS:
        raise _invalid("kind", f"expected one of {', '.join(quotas.KINDS)}")
    if not name.strip() or len(name) > 128:
        raise _invalid("name", "a non-empty scope name of at most 128 characters")
    if kind == "team" and name.count("/") != 1:
        raise _invalid("name", "a team's quota is named <org>/<team>")
    return kind, name


def _set(session: Session, scope: tuple[str, str], data: dict[str, Any]) -> Quota:
    found = _limits(data)
    row = session.scalar(
        select(Quota)
        .where(Quota.scope_kind == scope[0], Quota.scope_name == scope[1])
        .with_for_update()
    )
    if row is None:
        row = Quota(scope_kind=scope[0], scope_name=scope[1])
        session.add(row)
    for name, value in found.items():
        setattr(row, name, value)
    session.flush()
    return row


def _delete(session: Session, scope: tuple[str, str]) -> None:
    row = session.scalar(
        select(Quota).where(Quota.scope_kind == scope[0], Quota.scope_name == scope[1])
    )
    if row is None:
        raise ApiError(404, f"no quota for {scope[0]} {scope[1]!r}")
    session.delete(row)


@blueprint.get("/projects/<project_name>/quotas")
def project_quotas(project_name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        used = quotas.usage(session, [project.id])
        return jsonify(
            {
                "project": project.name,
                "usage": {name: getattr(used, name) for name in quotas.LIMITS},
                "quotas": quotas.report(session, project),
            }
        )


@blueprint.put("/projects/<project_name>/quota")
def set_project_quota(project_name: str) -> Any:
    data = body()
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        return jsonify(view(_set(session, ("project", project.name), data)))


@blueprint.delete("/projects/<project_name>/quota")
def delete_project_quota(project_name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        _delete(session, ("project", project.name))
    return "", 204


@blueprint.get("/quotas")
def list_quotas() -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        rows = session.scalars(
            select(Quota).order_by(Quota.scope_kind, Quota.scope_name).limit(limit).offset(offset)
        )
        return jsonify([view(row) for row in rows])


@blueprint.put("/quotas/<kind>/<path:name>")
def set_quota(kind: str, name: str) -> Any:
    data = body()
    scope = _scope(kind, name)
    with runtime.get().db.session() as session:
        return jsonify(view(_set(session, scope, data)))


@blueprint.delete("/quotas/<kind>/<path:name>")
def delete_quota(kind: str, name: str) -> Any:
    scope = _scope(kind, name)
    with runtime.get().db.session() as session:
        _delete(session, scope)
    return "", 204
