"""Who a quota limits: a project's scopes (itself, its org, the teams it has as members) and
the projects each scope holds."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from ci.store.models import Organization, Project, ProjectMember, Quota, Team

Scope = tuple[str, str]  # (kind, name): ("project", "vision"), ("org", "acme"), ("team", "acme/ml")


def memberships(session: Session, project: Project) -> list[Scope]:
    """The org and the teams `project` belongs to, as quota scopes. A team's name is
    `<org>/<team>`: team names are unique within their org only."""
    found: list[Scope] = []
    org = session.get(Organization, project.org_id) if project.org_id is not None else None
    if org is not None:
        found.append(("org", org.name))
    teams = session.execute(
        select(Organization.name, Team.name)
        .join(Team, Team.org_id == Organization.id)
        .join(ProjectMember, ProjectMember.team_id == Team.id)
        .where(ProjectMember.project_id == project.id)
        .order_by(Organization.name, Team.name)
    )
    found += [("team", f"{org_name}/{team_name}") for org_name, team_name in teams]
    return found


def projects_in(session: Session, scope: Scope) -> list[int]:
    """The ids of the projects whose runs count against `scope`'s quota."""
    kind, name = scope
    if kind == "project":
        query = select(Project.id).where(Project.name == name)
    elif kind == "org":
        query = select(Project.id).join(Organization).where(Organization.name == name)
    elif kind == "team" and "/" in name:
        org_name, team_name = name.split("/", 1)
        query = (
            select(ProjectMember.project_id)
            .join(Team, ProjectMember.team_id == Team.id)
            .join(Organization, Team.org_id == Organization.id)
            .where(Organization.name == org_name, Team.name == team_name)
        )
    else:
        return []
    return sorted(set(session.scalars(query)))


def scopes_of(session: Session, project: Project) -> list[Scope]:
    return [("project", project.name), *memberships(session, project)]


def quotas_of(project: Project) -> ColumnElement[bool]:
    """Which quotas limit `project`'s runs (those of `scopes_of`), as a condition on `quotas`
    that reads the scopes itself: admitting a run locks them in one statement, not three."""
    orgs = select(Organization.name).where(Organization.id == project.org_id)
    teams = (
        select(Organization.name + "/" + Team.name)
        .join(Team, Team.org_id == Organization.id)
        .join(ProjectMember, ProjectMember.team_id == Team.id)
        .where(ProjectMember.project_id == project.id)
    )
    return or_(
        and_(Quota.scope_kind == "project", Quota.scope_name == project.name),
        and_(Quota.scope_kind == "org", Quota.scope_name.in_(orgs.scalar_subquery())),
        and_(Quota.scope_kind == "team", Quota.scope_name.in_(teams.scalar_subquery())),
    )
