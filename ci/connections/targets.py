"""A hook's connection (`hooks: [{connection: alerts}]`, and the report target that says
`connection: alerts`) takes its settings from the project's connection of that name, if it has
one: its schema and secret values fill what the target leaves out (a Slack `webhook_url`, a
webhook's `url` and signing `secret`), opened only to send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from ci.connections import crypto
from ci.runtime import Runtime
from ci.store.models import Connection, Project


def target_config(
    rt: Runtime, project: str, name: str | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """`config` with the values of the connection `name`, if the project has one by that
    name; the target's own keys win. Without one, the name only routes the hook."""
    if not name:
        return dict(config)
    with rt.db.session() as session:
        row = session.scalar(
            select(Connection)
            .join(Project, Project.id == Connection.project_id)
            .where(Project.name == project, Connection.name == name)
        )
        if row is None:
            return dict(config)
        values = crypto.unseal(rt, row.secret, f"connection {name!r}")
        return {**(row.schema or {}), **values, **config}
