"""The audit log: who changed sources, subscriptions, connections, members and tokens.

An entry holds the route's name and the names in its URL, never a request body, so a secret
sent in one can never reach the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ci import runtime
from ci.identity.reach import Principal
from ci.store.models import AuditEntry, Organization, Project


def record(principal: Principal, endpoint: str, args: dict[str, Any], status: int) -> None:
    project_name = str(args.get("project_name", "")) if "project_name" in args else ""
    target = "/".join(f"{k}={v}" for k, v in sorted(args.items()) if k != "project_name")
    with runtime.get().db.session() as session:
        org_id = None
        if project_name:
            org_id = session.scalar(select(Project.org_id).where(Project.name == project_name))
        elif "org_name" in args:
            org_id = session.scalar(
                select(Organization.id).where(Organization.name == args["org_name"])
            )
        session.add(
            AuditEntry(
                actor=principal.label[:256],
                user_id=principal.user_id,
                org_id=org_id,
                project=project_name[:128],
                action=endpoint[:64],
                target=target[:512],
                status=status,
            )
        )


def view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "project": entry.project or None,
        "action": entry.action,
        "target": entry.target,
        "status": entry.status,
    }
