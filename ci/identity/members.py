"""Users, orgs, teams and memberships written: each refusal names the field and the reason."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.identity import reach
from ci.identity.reach import Principal
from ci.identity.roles import ORG_ROLES, Role
from ci.store.models import (
    Organization,
    OrgMember,
    Project,
    ProjectMember,
    Team,
    TeamMember,
    User,
)

DEFAULT_ORG = "default"


class MemberError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def org(session: Session, name: str) -> Organization:
    found = session.scalar(select(Organization).where(Organization.name == name))
    if found is None:
        raise MemberError(404, f"org: no organization named {name!r}")
    return found


def default_org(session: Session) -> Organization:
    found = session.scalar(select(Organization).where(Organization.name == DEFAULT_ORG))
    if found is None:
        found = Organization(name=DEFAULT_ORG)
        session.add(found)
        session.flush()
    return found


def user(session: Session, name: object, field: str = "user") -> User:
    found = session.scalar(select(User).where(User.name == name)) if isinstance(name, str) else None
    if found is None:
        raise MemberError(422, f"{field}: no user named {str(name)[:60]!r}")
    return found


def team(session: Session, owner: Organization, name: object, field: str = "team") -> Team:
    found = None
    if isinstance(name, str):
        found = session.scalar(select(Team).where(Team.org_id == owner.id, Team.name == name))
    if found is None:
        raise MemberError(422, f"{field}: no team named {str(name)[:60]!r} in org {owner.name!r}")
    return found


def place_project(
    session: Session, project: Project, org_name: object, principal: Principal | None
) -> None:
    """Put a new project in its org (the default one unless named); its maker, a user, owns
    it. Only an admin of that org may make projects in it."""
    if org_name is not None and not isinstance(org_name, str):
        raise MemberError(422, "org: expected an organization's name")
    owner = org(session, org_name) if org_name else default_org(session)
    if principal is not None:
        role = reach.org_role(session, principal, owner.id)
        if role is None or role < Role.ADMIN:
            raise MemberError(403, f"org: only an admin of {owner.name!r} may make projects in it")
    project.org_id = owner.id
    session.flush()
    if principal is not None and principal.user_id is not None:
        session.add(ProjectMember(project_id=project.id, user_id=principal.user_id, role="owner"))


def check_grant(granter: Role | None, role: Role) -> None:
    # Nobody hands out more than they hold: an admin cannot make an owner.
    if granter is None or granter < role:
        raise MemberError(403, f"role: granting {role.label} needs the {role.label} role yourself")


def set_project_member(
    session: Session, project: Project, principal: Principal, data: dict[str, object]
) -> ProjectMember:
    role = _role(data.get("role"))
    check_grant(reach.role_on(session, principal, project), role)
    if ("user" in data) == ("team" in data):
        raise MemberError(422, "user: give exactly one of `user` or `team`")
    if "user" in data:
        who = user(session, data["user"])
        row = session.scalar(
            select(ProjectMember).where(
                ProjectMember.project_id == project.id, ProjectMember.user_id == who.id
            )
        ) or ProjectMember(project_id=project.id, user_id=who.id)
    else:
        if project.org_id is None:
            raise MemberError(422, "team: this project belongs to no org, so it has no teams")
        owner = session.get(Organization, project.org_id)
        assert owner is not None
        found = team(session, owner, data["team"])
        row = session.scalar(
            select(ProjectMember).where(
                ProjectMember.project_id == project.id, ProjectMember.team_id == found.id
            )
        ) or ProjectMember(project_id=project.id, team_id=found.id)
    row.role = role.label
    session.add(row)
    session.flush()
    return row


def set_org_member(
    session: Session, owner: Organization, principal: Principal, data: dict[str, object]
) -> OrgMember:
    role = _role(data.get("role"))
    if role not in ORG_ROLES:
        raise MemberError(422, "role: an org role is member, admin or owner")
    check_grant(reach.org_role(session, principal, owner.id), role)
    who = user(session, data.get("user"))
    row = session.get(OrgMember, (owner.id, who.id)) or OrgMember(org_id=owner.id, user_id=who.id)
    row.role = role.label
    session.add(row)
    session.flush()
    return row


def add_team_member(session: Session, found: Team, name: object) -> TeamMember:
    who = user(session, name)
    row = session.get(TeamMember, (found.id, who.id)) or TeamMember(
        team_id=found.id, user_id=who.id
    )
    session.add(row)
    session.flush()
    return row


def _role(value: object) -> Role:
    try:
        return Role.parse(value)
    except ValueError as exc:
        raise MemberError(422, str(exc)) from None
