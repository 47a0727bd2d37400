"""Re-send the work a lost message would otherwise strand: the outbox's other half.

That includes a concurrency group's waiting run whose turn has come (its group is free, its
debounce window closed) but which no task started.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import exists, or_, select

from ci import groups, intake
from ci.db import utcnow
from ci.models import Condition, Run
from ci.runtime import Runtime
from schemas.status import RunStatus

log = logging.getLogger(__name__)
S = RunStatus
NOT_SUBMITTED = (S.CREATED, S.COMPILED, S.QUEUED)


def sweep(rt: Runtime) -> dict[str, int]:
    """Enqueue again every delivery, start, stop, turn and report that has waited too long."""
    from ci import tasks

    age = timedelta(seconds=rt.settings.sweep_after_seconds)
    cutoff = utcnow() - age
    with rt.db.session() as session:
        deliveries = intake.claim_stale(session, rt.settings.sweep_after_seconds)
        starts = list(
            session.scalars(
                select(Run.id).where(Run.status.in_(NOT_SUBMITTED), Run.updated_at < cutoff)
            )
        )
        stops = list(
            session.scalars(select(Run.id).where(Run.status == S.STOPPING, Run.updated_at < cutoff))
        )
        turns = groups.overdue(session, cutoff)
        unreported = exists().where(
            Condition.run_id == Run.id, Condition.id > Run.report_cursor, Condition.at < cutoff
        )
        reports = list(
            session.scalars(
                select(Run.id).where(
                    unreported,
                    or_(Run.report_lease_until.is_(None), Run.report_lease_until < utcnow()),
                )
            )
        )
    for delivery_id in deliveries:
        tasks.enqueue(tasks.process_delivery, delivery_id)
    for run_id in starts:
        tasks.enqueue(tasks.start_run, run_id)
    for run_id in stops:
        tasks.enqueue(tasks.stop_run, run_id)
    for run_id in turns:
        tasks.enqueue(tasks.start_next_in_group, run_id)
    for run_id in reports:
        tasks.enqueue(tasks.report_run, run_id)
    counts = {
        "deliveries": len(deliveries),
        "starts": len(starts),
        "stops": len(stops),
        "turns": len(turns),
        "reports": len(reports),
    }
    if any(counts.values()):
        log.info("sweeper re-sent %s", counts)
    return counts
