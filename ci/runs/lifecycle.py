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
# Those among them that read the run as it is, not the status it reached (a report pass reads
# every status not yet reported): called once per run and transaction, for its last move, so
# a start that takes a run through three statuses asks for one report, not three.
once_per_run: set[Callable[[int, RunStatus], None]] = set()
# Called once a transition commits, before its reactions, with the run's row as its
# transaction left it: what a reaction reads of a row that no longer changes (its parent, its
# hooks) it keeps from here instead of reading it again. ci.wiring registers them.
remembering: list[Callable[[Session, Run], None]] = []


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
    _react_after_commit(session, run, status)
    return condition


def _react_after_commit(session: Session, run: Run, status: RunStatus) -> None:
    # The moves of this transaction, each run's count: a run's last move is the one whose
    # number is its count when the reactions run (after commit, when no move can follow). Its
    # row is kept from (`remembering`) before the reactions of its first move.
    transaction = session.get_transaction()
    kept = session.info.get("moves")
    if kept is None or kept[0] is not transaction:  # a new transaction (the last one ended)
        kept = session.info["moves"] = (transaction, {})
    moves: dict[int, int] = kept[1]
    run_id = run.id
    moves[run_id] = number = moves.get(run_id, 0) + 1

    def react_all() -> None:
        last = moves[run_id] == number
        for remember in remembering if number == 1 else ():
            remember(session, run)
        for react in reactions:
            if last or react not in once_per_run:
                react(run_id, status)

    after_commit(session, react_all)


def create(session: Session, run: Run, reason: str = "", message: str = "") -> Condition:
    """Record a new run's first status, `created`."""
    run.status = S.CREATED
    session.add(run)
    condition = Condition(run=run, status=S.CREATED, reason=reason, message=message)
    session.add(condition)
    return condition
