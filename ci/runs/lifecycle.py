"""The only writer of a run's status: legal moves are the TRANSITIONS table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from ci.store.db import after_commit, utcnow
from ci.store.models import Condition, Run
from schemas.status import DONE, RunStatus

log = logging.getLogger(__name__)
S = RunStatus

_ACTIVE = frozenset({S.STARTING, S.RUNNING, S.WARNING, S.RETRYING, S.UNKNOWN, S.UNSCHEDULABLE})
_ENDINGS = frozenset({S.SUCCEEDED, S.FAILED, S.STOPPING, S.STOPPED})

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.CREATED: frozenset(
        {S.COMPILED, S.ON_SCHEDULE, S.SKIPPED, S.STOPPED, S.FAILED, S.UPSTREAM_FAILED}
    ),
    S.RESUMING: frozenset({S.COMPILED, S.QUEUED, S.STOPPED, S.FAILED}),
    S.ON_SCHEDULE: frozenset({S.COMPILED, S.SKIPPED, S.STOPPED, S.FAILED}),
    # A controller (dag, matrix, schedule) runs once compiled: no runner holds it. A cache hit
    # ends a compiled run as succeeded; a compiled controller with live children stops in turn.
    S.COMPILED: frozenset(
        {S.QUEUED, S.ON_SCHEDULE, S.SKIPPED, S.STOPPING, S.STOPPED, S.FAILED, S.RUNNING}
        | {S.SUCCEEDED}
    ),
    S.QUEUED: frozenset({S.SCHEDULED, S.SKIPPED, S.STOPPED, S.FAILED, S.UPSTREAM_FAILED}),
    # A fast job can finish before the agent sees it start: every later status is reachable.
    S.SCHEDULED: _ACTIVE | _ENDINGS,
    S.STARTING: (_ACTIVE - {S.STARTING}) | _ENDINGS,
    S.RUNNING: (_ACTIVE - {S.STARTING, S.RUNNING, S.UNSCHEDULABLE}) | _ENDINGS | {S.PROCESSING},
    S.PROCESSING: frozenset({S.WARNING}) | _ENDINGS,
    S.WARNING: (_ACTIVE - {S.WARNING}) | _ENDINGS,
    S.UNSCHEDULABLE: (_ACTIVE - {S.UNSCHEDULABLE}) | _ENDINGS,
    # A retry the core carries out (the local runner) queues the run again.
    S.RETRYING: (_ACTIVE - {S.RETRYING, S.UNSCHEDULABLE}) | _ENDINGS | {S.QUEUED, S.SCHEDULED},
    S.UNKNOWN: (_ACTIVE - {S.UNKNOWN}) | _ENDINGS,
    # A job can still end on its own while its stop is being carried out.
    S.STOPPING: frozenset({S.STOPPED, S.FAILED, S.SUCCEEDED}),
    # Done is final except for resume.
    S.SUCCEEDED: frozenset({S.RESUMING}),
    S.FAILED: frozenset({S.RESUMING}),
    S.STOPPED: frozenset({S.RESUMING}),
    S.SKIPPED: frozenset({S.RESUMING}),
    S.UPSTREAM_FAILED: frozenset({S.RESUMING}),
}

# Called after the transaction that made a transition commits, with (run id, new status).
# ci.wiring registers the reactions, in its stated order (queues, reporting, groups).
reactions: list[Callable[[int, RunStatus], None]] = []


class IllegalTransition(Exception):
    def __init__(self, run: Run, status: RunStatus) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[RunStatus(run.status)])) or "nothing"
        super().__init__(
            f"run {run.uuid}: cannot go from {run.status} to {status}; allowed: {allowed}"
        )
        self.current = RunStatus(run.status)
        self.status = status


def can_transition(current: RunStatus | str, status: RunStatus | str) -> bool:
    return RunStatus(status) in TRANSITIONS[RunStatus(current)]


def transition(
    session: Session,
    run: Run,
    status: RunStatus,
    reason: str = "",
    message: str = "",
    at: datetime | None = None,
) -> Condition:
    """Move `run` to `status` and record why; IllegalTransition if the table forbids it.

    The caller holds the run's row (loaded FOR UPDATE) inside its transaction.
    """
    status = RunStatus(status)
    if not can_transition(run.status, status):
        raise IllegalTransition(run, status)
    at = at or utcnow()
    run.status = status
    if status == S.RUNNING and run.started_at is None:
        run.started_at = at
    if status in DONE:
        run.finished_at = at
        run.started_at = run.started_at or at
    elif status == S.RESUMING:
        run.finished_at = None
    condition = Condition(run=run, status=status, reason=reason, message=message[:4000], at=at)
    session.add(condition)
    log.info("run %s -> %s %s %s", run.uuid, status, reason, message[:200])
    run_id = run.id
    for react in reactions:
        after_commit(session, lambda react=react: react(run_id, status))
    return condition


def create(session: Session, run: Run, reason: str = "", message: str = "") -> Condition:
    """Record a new run's first status, `created`."""
    run.status = S.CREATED
    session.add(run)
    condition = Condition(run=run, status=S.CREATED, reason=reason, message=message)
    session.add(condition)
    return condition
