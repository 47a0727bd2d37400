"""The only writer of a run's status: legal moves are the TRANSITIONS table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, bindparam, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ci.store.db import Base, after_commit, utcnow
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
# Those among them with a form that hears every run of a transaction at once, each with its
# last move: called once, at the first run's turn, instead of once per run, so that a batch
# of starts asks for its reports in one statement rather than one per run.
for_many: dict[Callable[[int, RunStatus], None], Callable[[list[tuple[int, RunStatus]]], None]] = {}
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
        kept = session.info["moves"] = (transaction, {}, {}, set(), {})
    moves: dict[int, int] = kept[1]
    lasts: dict[int, RunStatus] = kept[2]
    heard_all: set[Callable[[int, RunStatus], None]] = kept[3]
    rows: dict[int, Run] = kept[4]  # each run's row, until what it says has been kept
    run_id = run.id
    moves[run_id] = number = moves.get(run_id, 0) + 1
    lasts[run_id] = status
    rows.setdefault(run_id, run)

    def remember_all(which: list[int]) -> None:
        for moved in which:
            row = rows.pop(moved, None)
            if row is None:  # kept already
                continue
            for remember in remembering:
                remember(session, row)

    def react_all() -> None:
        last = moves[run_id] == number
        remember_all([run_id])
        for react in reactions:
            if not last and react in once_per_run:
                continue
            many = for_many.get(react) if react in once_per_run else None
            if many is None:
                react(run_id, status)
            elif react not in heard_all:  # the first run's turn: every run's last move
                heard_all.add(react)
                remember_all(list(rows))  # what it reads of each run, kept from its row
                many(list(lasts.items()))

    after_commit(session, react_all)


def create(session: Session, run: Run, reason: str = "", message: str = "") -> Condition:
    """Record a new run's first status, `created`."""
    run.status = S.CREATED
    session.add(run)
    condition = Condition(run=run, status=S.CREATED, reason=reason, message=message)
    session.add(condition)
    return condition


# A run made for an event is unique by its cause (uq_runs_cause): the subscription and the
# event's key.
_CAUSE = ["subscription_id", "event_key"]
_RUNS, _CONDITIONS = Base.metadata.tables["runs"], Base.metadata.tables["conditions"]
_SUBSCRIPTIONS = Base.metadata.tables["subscriptions"]
# The columns with a default in Python: the statements are built once, with a parameter for
# each column they write, so each call gives every one its value.
_DEFAULTED = [c.name for c in _RUNS.columns if c.default is not None and not c.primary_key]
_COLUMNS = [*_DEFAULTED, *_CAUSE, "project_id", "delivery_id"]


def _run_insert(dialect: Any) -> Insert:
    """The run, unless its subscription is gone (deleted since its filter was compiled) or
    has the run of that event already."""
    params = {name: bindparam(name, type_=_RUNS.c[name].type) for name in _COLUMNS}
    alive = exists().where(_SUBSCRIPTIONS.c.id == params["subscription_id"])
    rows = select(*params.values()).where(alive)
    statement = dialect.insert(_RUNS).from_select(_COLUMNS, rows)
    return statement.on_conflict_do_nothing(index_elements=_CAUSE)


def _first_condition(made: Any) -> Insert:
    return insert(_CONDITIONS).from_select(
        ["run_id", "status", "reason", "message", "at"],
        select(
            made.c.id,
            made.c.status,
            bindparam("_reason", type_=_CONDITIONS.c.reason.type),
            bindparam("_message", type_=_CONDITIONS.c.message.type),
            made.c.created_at,
        ),
    )


# PostgreSQL writes the run and its first condition in one statement; a conflict writes neither.
_CREATE_ONCE: dict[str, Any] = {
    "postgresql": _first_condition(
        _run_insert(postgresql)
        .returning(_RUNS.c.id, _RUNS.c.status, _RUNS.c.created_at)
        .cte("made")
    ).returning(_CONDITIONS.c.run_id),
}
_CREATE_ONCE_RUN = _run_insert(sqlite).returning(_RUNS.c.id)


def create_once(session: Session, values: dict[str, Any], reason: str, message: str) -> int | None:
    """Record a subscription's new run of an event, `created`: its id; None if the
    subscription has the run of that event (`event_key`) already, or is deleted. Without the
    ORM's flush, and without a savepoint: a conflict leaves the transaction usable, so a
    redelivered event makes no second run.

    `values` are the run's columns: `project_id`, `subscription_id`, `delivery_id`,
    `event_key`, and others among those with a default; the rest take their defaults.
    """
    unknown = values.keys() - set(_COLUMNS)
    if unknown:
        raise ValueError(f"a run of an event sets no {', '.join(sorted(unknown))}")
    now = utcnow()
    row: dict[str, Any] = {"delivery_id": None, "created_at": now, "updated_at": now}
    for name in _DEFAULTED:
        if name not in row:
            default: Any = _RUNS.c[name].default  # a ColumnDefault: a value, or a callable
            row[name] = default.arg(None) if default.is_callable else default.arg
    row.update(values, status=S.CREATED)
    connection = session.connection()
    statement = _CREATE_ONCE.get(connection.dialect.name)
    if statement is not None:
        found = connection.execute(statement, {**row, "_reason": reason, "_message": message})
        return found.scalar()
    run_id = connection.execute(_CREATE_ONCE_RUN, row).scalar()
    if run_id is not None:
        first = {"status": S.CREATED, "reason": reason, "message": message, "at": now}
        connection.execute(insert(_CONDITIONS), {"run_id": run_id, **first})
    return run_id
