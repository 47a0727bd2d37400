"""What a caller reaches: their role on a project (direct, through a team, through the org),
narrowed by the scopes of the token they came with."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from ci.identity.roles import ACTIONS, Role
from ci.identity.tokens import Scopes
from ci.store.models import OrgMember, Project, ProjectMember, TeamMember

EVERYTHING = Scopes(None, frozenset(ACTIONS))


@dataclass(frozen=True)
class Principal:
    """Who asks. `kind`: "admin" (the server's AXON_API_TOKEN, or nobody's credentials set),
    "user" (a personal access token, or a login made with one), "run" (a run's own token)."""

    kind: str
    label: str
    user_id: int | None = None
    token_id: int | None = None
    is_admin: bool = False
    scopes: Scopes = field(default=EVERYTHING)
    run_uuid: str | None = None

    @property
    def unrestricted(self) -> bool:
        return self.is_admin and self.scopes == EVERYTHING


def _memberships(principal: Principal) -> Select[int, str]:
    """(project id, role) rows of the user's direct and team memberships."""
    teams = select(TeamMember.team_id).where(TeamMember.user_id == principal.user_id)
    return select(ProjectMember.project_id, ProjectMember.role).where(
        or_(ProjectMember.user_id == principal.user_id, ProjectMember.team_id.in_(teams))
    )


def role_on(session: Session, principal: Principal, project: Project) -> Role | None:
    """The principal's highest role on `project`, None for none; scopes not applied."""
    if principal.is_admin:
        return Role.OWNER
    if principal.user_id is None:
        return None
    roles = [
        Role.parse(role)
        for _, role in session.execute(
            _memberships(principal).where(ProjectMember.project_id == project.id)
        )
    ]
    if project.org_id is not None:
        org_role = session.scalar(
            select(OrgMember.role).where(
                OrgMember.org_id == project.org_id, OrgMember.user_id == principal.user_id
            )
        )
        if org_role:
            roles.append(Role.parse(org_role))
    return max(roles, default=None)


def allows(session: Session, principal: Principal, project: Project, action: str) -> bool:
    """Whether the principal may do `action` (read, write, admin) on `project`."""
    scopes = principal.scopes
    if action not in scopes.actions:
        return False
    if scopes.projects is not None and project.name not in scopes.projects:
        return False
    role = role_on(session, principal, project)
    return role is not None and role >= ACTIONS[action]


def visible_project_ids(session: Session, principal: Principal) -> set[int] | None:
    """The ids of the projects the principal may read; None when that is every project."""
    if principal.unrestricted:
        return None
    if "read" not in principal.scopes.actions:
        return set()
    if principal.is_admin:
        ids = set(session.scalars(select(Project.id)))
    elif principal.user_id is None:
        return set()
    else:
        ids = {project_id for project_id, _ in session.execute(_memberships(principal))}
        orgs = select(OrgMember.org_id).where(OrgMember.user_id == principal.user_id)
        ids |= set(session.scalars(select(Project.id).where(Project.org_id.in_(orgs))))
    if principal.scopes.projects is not None:
        named = select(Project.id).where(Project.name.in_(principal.scopes.projects))
        ids &= set(session.scalars(named))
    return ids


def org_role(session: Session, principal: Principal, org_id: int) -> Role | None:
    if principal.is_admin:
        return Role.OWNER
    if principal.user_id is None:
        return None
    role = session.scalar(
        select(OrgMember.role).where(
            OrgMember.org_id == org_id, OrgMember.user_id == principal.user_id
        )
    )
    return Role.parse(role) if role else None


def admin_org_ids(session: Session, principal: Principal) -> set[int] | None:
    """The orgs the principal administers; None for all of them (a server admin)."""
    if principal.is_admin:
        return None
    if principal.user_id is None or "admin" not in principal.scopes.actions:
        return set()
    rows = session.scalars(
        select(OrgMember.org_id).where(
            OrgMember.user_id == principal.user_id,
            OrgMember.role.in_([Role.ADMIN.label, Role.OWNER.label]),
        )
    )
    return set(rows)
