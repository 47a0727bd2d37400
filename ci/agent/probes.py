"""Probes down the task queue: how far the workers have got through what was published.

The queue is first in, first out. The sweeper sends a probe behind the work it suspects is
lost; once a worker has seen it, every message published before it has been delivered, so
work older than the probe that is still not done was lost, not waiting behind a backlog.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ci import runtime
from ci.runtime import Runtime
from ci.store.db import Database, utcnow
from ci.store.models import BrokerProbe

# A task is published a moment after the transaction that asked for it commits.
MARGIN = timedelta(seconds=2)
KEEP = timedelta(hours=1)


def passed(session: Session) -> datetime | None:
    """Every message published before this time has been delivered; None: not known yet."""
    seen = session.scalar(
        select(func.max(BrokerProbe.sent_at)).where(BrokerProbe.seen_at.is_not(None))
    )
    return None if seen is None else seen - MARGIN


def send(rt: Runtime, now: datetime, age: timedelta) -> None:
    """Send a probe, unless one sent less than `age` ago is still on its way."""
    with rt.db.session() as session:
        on_its_way = session.scalar(
            select(BrokerProbe.id)
            .where(BrokerProbe.seen_at.is_(None), BrokerProbe.sent_at >= now - age)
            .limit(1)
        )
        if on_its_way is not None:
            return
        session.execute(delete(BrokerProbe).where(BrokerProbe.sent_at < now - KEEP))
        probe = BrokerProbe(sent_at=utcnow())
        session.add(probe)
        session.flush()
        probe_id = probe.id
    runtime.enqueue("axon.probe", probe_id)


def seen(db: Database, probe_id: int) -> None:
    """A worker took the probe off the queue."""
    with db.session() as session:
        session.execute(
            update(BrokerProbe)
            .where(BrokerProbe.id == probe_id, BrokerProbe.seen_at.is_(None))
            .values(seen_at=utcnow())
        )
