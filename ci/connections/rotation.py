"""Every connection's secret values, and every webhook source's secret, encrypted again with
the newest key, in one transaction."""

from __future__ import annotations

from sqlalchemy import select

from ci.connections import crypto
from ci.runtime import Runtime
from ci.store.models import Connection, Project, Source


def rotate(rt: Runtime) -> int:
    """Re-encrypt each row with the first key of AXON_SECRETS_KEY; how many rows were.

    All or nothing: a row no key opens stops the rotation before any row changes, so the old
    key is still needed (and still works) for every row.
    """
    with rt.db.session() as session:
        names = dict(session.execute(select(Project.id, Project.name)).all())
        connections = session.scalars(
            select(Connection).order_by(Connection.id).with_for_update()
        ).all()
        for row in connections:
            where = f"connection {names.get(row.project_id, '?')}/{row.name}"
            row.secret = crypto.reseal(rt, row.secret, where)
        sources = session.scalars(select(Source).order_by(Source.id).with_for_update()).all()
        for source in sources:
            where = f"{source.provider} source {source.name}"
            source.secret = crypto.reseal(rt, source.secret, where)
        return len(connections) + len(sources)
