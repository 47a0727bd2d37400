"""A request's principal checked against its route's rule; the refusals say nothing of whether
what the URL names exists outside the caller's reach."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError
from ci.identity import reach
from ci.identity.policy import Rule
from ci.identity.reach import Principal
from ci.identity.roles import ACTIONS, Role
from ci.store.models import Delivery, Organization, Project, Run, Source


def current() -> Principal | None:
    """The principal the guard admitted this request as; None outside a request or if open."""
    found = g.get("axon_principal")
    return found if isinstance(found, Principal) else None


def refused(action: str, what: str) -> ApiError:
    # One answer for "not yours" and "not there": a stranger learns nothing from the difference.
    return ApiError(403, f"you may not {action} this {what}, or it does not exist")


def project_of(session: Session, rule: Rule, args: dict[str, Any]) -> Project | None:
    """The project the URL names, directly or through the run or delivery it names."""
    if rule.need == "project":
        name = args.get("project_name", args.get("name"))
        return session.scalar(select(Project).where(Project.name == name))
    if rule.need in ("run", "run_token"):
        return session.scalar(
            select(Project).join(Run, Run.project_id == Project.id).where(Run.uuid == args["uuid"])
        )
    if rule.need == "delivery":
        return session.scalar(
            select(Project)
            .join(Source, Source.project_id == Project.id)
            .join(Delivery, Delivery.source_id == Source.id)
            .where(Delivery.id == args["delivery_id"])
        )
    return None


def check(principal: Principal, rule: Rule, args: dict[str, Any]) -> None:
    """Return if `principal` meets `rule` for the URL's `args`; ApiError(403) otherwise."""
    if rule.need in ("public", "signed_in"):
        return
    if rule.need == "run_token" and principal.kind == "run":
        if principal.run_uuid == args.get("uuid"):
            return
        raise refused("report to", "run")
    if principal.kind == "run":
        raise refused(rule.action, "resource with a run's token")
    if principal.unrestricted:
        return  # a server admin meets every rule, and lets a missing thing answer 404
    with runtime.get().db.session() as session:
        if rule.need == "server_admin":
            if principal.is_admin and rule.action in principal.scopes.actions:
                return
            raise ApiError(403, "only a server admin may do this")
        if rule.need == "org_admin":
            if reach.admin_org_ids(session, principal) != set():
                return
            raise ApiError(403, "only an org admin may do this")
        if rule.need == "org":
            org = session.scalar(select(Organization).where(Organization.name == args["org_name"]))
            role = org and reach.org_role(session, principal, org.id)
            if (
                role
                and role >= max(ACTIONS[rule.action], Role.MEMBER)
                and (rule.action in principal.scopes.actions)
            ):
                return
            raise refused(rule.action, "organization")
        project = project_of(session, rule, args)
        if project is None and principal.is_admin:
            return  # scoped, but an admin: the route's own 404 tells it what is missing
        if project is None or not reach.allows(session, principal, project, rule.action):
            raise refused(rule.action, "project" if rule.need == "project" else rule.need)


def only_readable(session: Session, query: Select[Any], project_id: Any) -> Select[Any]:
    """`query` narrowed to rows whose `project_id` column is a project the caller may read."""
    principal = current()
    if principal is None:
        return query
    ids = reach.visible_project_ids(session, principal)
    return query if ids is None else query.where(project_id.in_(ids))


def readable_sources(session: Session) -> Select[Any] | None:
    """The ids of the sources of projects the caller may read, as a subquery; None for all."""
    principal = current()
    ids = None if principal is None else reach.visible_project_ids(session, principal)
    return None if ids is None else select(Source.id).where(Source.project_id.in_(ids))
