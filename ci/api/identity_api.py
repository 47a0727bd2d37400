"""REST API for users, orgs, teams, memberships, personal access tokens and the audit log.

A token is answered once, when it is made; afterwards only its prefix, scopes and times are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError, json_body, page_params
from ci.identity import audit, disabling, enforce, members, reach, tokens
from ci.identity.reach import Principal
from ci.identity.roles import Role
from ci.store.db import utcnow
from ci.store.models import (
    AccessToken,
    AuditEntry,
    Organization,
    OrgMember,
    Project,
    ProjectMember,
    Team,
    TeamMember,
    User,
)

blueprint = Blueprint("identity_api", __name__, url_prefix="/api/v1")


def _body() -> dict[str, Any]:
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object body")
    return data


def _name(data: dict[str, Any], field: str = "name") -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip() or "/" in value or len(value) > 128:
        raise ApiError(422, f"{field}: required, a non-empty string without '/', at most 128")
    return value.strip()


def _principal() -> Principal:
    found = enforce.current()
    if found is None:
        raise ApiError(401, "the API requires a token: Authorization: Bearer <token>")
    return found


def _done(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise ApiError(409, f"{what} already exists") from None


def _call(session: Session, action: Any, *args: Any) -> Any:
    try:
        return action(session, *args)
    except members.MemberError as exc:
        raise ApiError(exc.status, exc.message) from None


def _role_filter() -> str | None:
    """`?role=`: only the members holding that role."""
    given = request.args.get("role")
    if not given:
        return None
    try:
        return Role.parse(given).label
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _user_view(row: User) -> dict[str, Any]:
    since = row.disabled_at.isoformat() if row.disabled_at else None
    return {"name": row.name, "email": row.email, "is_admin": row.is_admin, "disabled_at": since}


@blueprint.get("/user")
def whoami() -> Any:
    principal = _principal()
    with runtime.get().db.session() as session:
        row = session.get(User, principal.user_id) if principal.user_id else None
        return jsonify(
            {
                "user": _user_view(row) if row else None,
                "is_admin": principal.is_admin,
                "via": principal.label,
                "scopes": principal.scopes.as_json(),
            }
        )


@blueprint.get("/users")
def list_users() -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        rows = session.scalars(select(User).order_by(User.name).limit(limit).offset(offset))
        return jsonify([_user_view(u) for u in rows])


@blueprint.post("/users")
def create_user() -> Any:
    data = _body()
    is_admin = data.get("is_admin", False)
    if not isinstance(is_admin, bool):
        raise ApiError(422, "is_admin: expected true or false")
    with runtime.get().db.session() as session:
        row = User(name=_name(data), email=str(data.get("email") or "")[:256], is_admin=is_admin)
        session.add(row)
        _done(session, f"user {row.name!r}")
        return jsonify(_user_view(row)), 201


def _set_disabled(user_name: str, disabled: bool) -> Any:
    with runtime.get().db.session() as session:
        row = session.scalar(select(User).where(User.name == user_name))
        if row is None:
            raise ApiError(404, f"user_name: no user named {user_name[:60]!r}")
        _call(session, disabling.set_disabled, row, _principal(), disabled)
        return jsonify(_user_view(row))


@blueprint.post("/users/<user_name>/disable")
def disable_user(user_name: str) -> Any:
    """Refuse the user's tokens and end its sessions until it is enabled again."""
    return _set_disabled(user_name, True)


@blueprint.post("/users/<user_name>/enable")
def enable_user(user_name: str) -> Any:
    return _set_disabled(user_name, False)


@blueprint.get("/orgs")
def list_orgs() -> Any:
    principal = _principal()
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        query = select(Organization).order_by(Organization.name).limit(limit).offset(offset)
        if not principal.is_admin:
            mine = select(OrgMember.org_id).where(OrgMember.user_id == principal.user_id)
            query = query.where(Organization.id.in_(mine))
        return jsonify([{"name": o.name} for o in session.scalars(query)])


@blueprint.post("/orgs")
def create_org() -> Any:
    data = _body()
    with runtime.get().db.session() as session:
        row = Organization(name=_name(data))
        session.add(row)
        _done(session, f"organization {row.name!r}")
        return jsonify({"name": row.name}), 201


def _org(session: Session, name: str) -> Organization:
    return _call(session, members.org, name)  # type: ignore[no-any-return]


@blueprint.get("/orgs/<org_name>/members")
def list_org_members(org_name: str) -> Any:
    limit, offset = page_params()
    role = _role_filter()
    with runtime.get().db.session() as session:
        owner = _org(session, org_name)
        query = (
            select(User.name, OrgMember.role)
            .join(OrgMember, OrgMember.user_id == User.id)
            .where(OrgMember.org_id == owner.id)
        )
        if role is not None:
            query = query.where(OrgMember.role == role)
        rows = session.execute(query.order_by(User.name).limit(limit).offset(offset))
        return jsonify([{"user": name, "role": role} for name, role in rows])


@blueprint.put("/orgs/<org_name>/members")
def set_org_member(org_name: str) -> Any:
    data = _body()
    with runtime.get().db.session() as session:
        owner = _org(session, org_name)
        row = _call(session, members.set_org_member, owner, _principal(), data)
        return jsonify({"user": data["user"], "role": row.role})


@blueprint.delete("/orgs/<org_name>/members/<user_name>")
def remove_org_member(org_name: str, user_name: str) -> Any:
    with runtime.get().db.session() as session:
        owner = _org(session, org_name)
        who = _call(session, members.user, user_name)
        kept = session.get(OrgMember, (owner.id, who.id))
        if kept is not None:
            granter = reach.org_role(session, _principal(), owner.id)
            _call(session, lambda _s: members.check_grant(granter, Role.parse(kept.role)))
            session.delete(kept)
        return "", 204


@blueprint.get("/orgs/<org_name>/teams")
def list_teams(org_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        owner = _org(session, org_name)
        teams = session.scalars(
            select(Team)
            .where(Team.org_id == owner.id)
            .order_by(Team.name)
            .limit(limit)
            .offset(offset)
        )
        answer = []
        for found in teams:
            names = session.scalars(
                select(User.name)
                .join(TeamMember, TeamMember.user_id == User.id)
                .where(TeamMember.team_id == found.id)
                .order_by(User.name)
            )
            answer.append({"name": found.name, "members": list(names)})
        return jsonify(answer)


@blueprint.post("/orgs/<org_name>/teams")
def create_team(org_name: str) -> Any:
    data = _body()
    with runtime.get().db.session() as session:
        row = Team(org_id=_org(session, org_name).id, name=_name(data))
        session.add(row)
        _done(session, f"team {row.name!r}")
        return jsonify({"name": row.name, "members": []}), 201


@blueprint.put("/orgs/<org_name>/teams/<team_name>/members")
def add_team_member(org_name: str, team_name: str) -> Any:
    data = _body()
    with runtime.get().db.session() as session:
        found = _call(session, members.team, _org(session, org_name), team_name)
        _call(session, members.add_team_member, found, data.get("user"))
        return jsonify({"team": team_name, "user": data["user"]})


@blueprint.delete("/orgs/<org_name>/teams/<team_name>/members/<user_name>")
def remove_team_member(org_name: str, team_name: str, user_name: str) -> Any:
    with runtime.get().db.session() as session:
        found = _call(session, members.team, _org(session, org_name), team_name)
        who = _call(session, members.user, user_name)
        session.execute(
            delete(TeamMember).where(TeamMember.team_id == found.id, TeamMember.user_id == who.id)
        )
        return "", 204


def _project(session: Session, name: str) -> Project:
    found = session.scalar(select(Project).where(Project.name == name))
    if found is None:
        raise ApiError(404, f"no project named {name!r}")
    return found


@blueprint.get("/projects/<project_name>/members")
def list_members(project_name: str) -> Any:
    limit, offset = page_params()
    role = _role_filter()
    with runtime.get().db.session() as session:
        project = _project(session, project_name)
        query = (
            select(ProjectMember, User.name, Team.name)
            .outerjoin(User, User.id == ProjectMember.user_id)
            .outerjoin(Team, Team.id == ProjectMember.team_id)
            .where(ProjectMember.project_id == project.id)
        )
        if role is not None:
            query = query.where(ProjectMember.role == role)
        rows = session.execute(query.order_by(ProjectMember.id).limit(limit).offset(offset))
        return jsonify([{"user": user, "team": team, "role": row.role} for row, user, team in rows])


@blueprint.put("/projects/<project_name>/members")
def set_member(project_name: str) -> Any:
    data = _body()
    with runtime.get().db.session() as session:
        project = _project(session, project_name)
        row = _call(session, members.set_project_member, project, _principal(), data)
        return jsonify({"user": data.get("user"), "team": data.get("team"), "role": row.role})


@blueprint.delete("/projects/<project_name>/members/<kind>/<member_name>")
def remove_member(project_name: str, kind: str, member_name: str) -> Any:
    if kind not in ("user", "team"):
        raise ApiError(404, f"kind: expected user or team, not {kind[:20]!r}")
    with runtime.get().db.session() as session:
        project = _project(session, project_name)
        column = ProjectMember.user_id if kind == "user" else ProjectMember.team_id
        named = User.id if kind == "user" else Team.id
        label = User.name if kind == "user" else Team.name
        ids = select(named).where(label == member_name)
        kept = session.scalar(
            select(ProjectMember).where(ProjectMember.project_id == project.id, column.in_(ids))
        )
        if kept is not None:
            granter = reach.role_on(session, _principal(), project)
            _call(session, lambda _s: members.check_grant(granter, Role.parse(kept.role)))
            session.delete(kept)
        return "", 204


def _token_owner(session: Session, principal: Principal, data: dict[str, Any]) -> User:
    """The caller, or with `user` the user a server admin makes a token for."""
    if "user" in data:
        if not principal.is_admin:
            raise ApiError(403, "user: only a server admin makes tokens for another user")
        return _call(session, members.user, data["user"])  # type: ignore[no-any-return]
    if principal.user_id is None:
        raise ApiError(422, "user: required with the API token, which belongs to no user")
    found = session.get(User, principal.user_id)
    assert found is not None
    return found


def _expiry(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError(422, "expires_at: expected an ISO 8601 time with its zone") from None
    if moment.tzinfo is None:
        raise ApiError(422, "expires_at: expected an ISO 8601 time with its zone")
    return moment


@blueprint.get("/user/tokens")
def list_tokens() -> Any:
    principal = _principal()
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        rows = session.scalars(
            select(AccessToken)
            .where(AccessToken.user_id == principal.user_id)
            .order_by(AccessToken.id)
            .limit(limit)
            .offset(offset)
        )
        return jsonify([tokens.view(t) for t in rows])


@blueprint.post("/user/tokens")
def create_token() -> Any:
    data = _body()
    principal = _principal()
    try:
        scopes = tokens.Scopes.parse(data.get("scopes"))
    except tokens.TokenError as exc:
        raise ApiError(422, str(exc)) from None
    name = str(data.get("name") or "")[:128]
    with runtime.get().db.session() as session:
        owner = _token_owner(session, principal, data)
        try:
            row, token = tokens.issue(session, owner, name, scopes, _expiry(data.get("expires_at")))
        except tokens.TokenError as exc:
            raise ApiError(422, str(exc)) from None
        return jsonify({**tokens.view(row), "user": owner.name, "token": token}), 201


@blueprint.delete("/user/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Any:
    principal = _principal()
    with runtime.get().db.session() as session:
        row = session.get(AccessToken, token_id)
        if row is None or (row.user_id != principal.user_id and not principal.is_admin):
            raise ApiError(404, f"no token {token_id} of yours")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return jsonify(tokens.view(row))


@blueprint.get("/audit")
def list_audit() -> Any:
    """Newest first; `?project=` and `?action=` (an endpoint, as the entries name it) filter."""
    limit, offset = page_params()
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    for name, column in (("project", AuditEntry.project), ("action", AuditEntry.action)):
        if request.args.get(name):
            query = query.where(column == request.args[name])
    with runtime.get().db.session() as session:
        orgs = reach.admin_org_ids(session, _principal())
        if orgs is not None:
            query = query.where(AuditEntry.org_id.in_(orgs))
        return jsonify([audit.view(e) for e in session.scalars(query)])
