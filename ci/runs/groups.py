"""Concurrency groups on the database side: admit new runs, and start waiting ones in turn.

triggers.concurrency decides; this module carries it out. A run the group holds back is
`on_schedule`; it is compiled and started when its turn comes: when a run of its group ends (a
reaction ci.wiring registers), when its debounce window closes (a task sent with a countdown),
or when the sweeper finds it overdue (that task was lost).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from ci import runtime
from ci.runs import launch, lifecycle, tree, waking
from ci.runtime import Runtime
from ci.store.db import Database, after_commit, utcnow
from ci.store.models import Run, Subscription
from schemas.errors import SpecError, SpecErrors
from schemas.event import Event
from schemas.status import RunStatus
from triggers.base import Check
from triggers.concurrency import HELD, IGNORED, Concurrency, GroupRun, Turn
from triggers.subscription import compile_subscription

log = logging.getLogger(__name__)
S = RunStatus
# Wider than any group a template renders in practice; a longer one is cut, not refused.
GROUP_LENGTH = 256
# Only the waiting run's debounce matters when its turn is asked for; a subscription that has
# since dropped `concurrency` still lets its waiting runs go one at a time.
NO_DEBOUNCE = Concurrency("{{ subscription }}")


@dataclass
class Admitted:
    """What admitting one run did: whether it may start now, and why, for the decision log."""

    start: bool
    checks: list[Check] = field(default_factory=list)


def frees_a_group(status: RunStatus) -> bool:
    """Whether a run reaching `status` may let a waiting run of its group start."""
    return status in IGNORED


# A run's group is set when it is admitted, before its first transition, and never changes:
# each process keeps it per run, as ci.runs.waking keeps a run's controller.
_GROUPED: OrderedDict[tuple[str, int], bool] = OrderedDict()
_GROUPED_KEPT = 8192


def remember_group(session: Session, run: Run) -> None:
    """Keep whether `run` is in a group, from a row already loaded."""
    if "concurrency_group" not in inspect(run).unloaded and waking.keeps(session):
        _keep_group((str(session.get_bind().engine.url), run.id), bool(run.concurrency_group))


def _keep_group(key: tuple[str, int], grouped: bool) -> bool:
    _GROUPED[key] = grouped
    while len(_GROUPED) > _GROUPED_KEPT:
        _GROUPED.popitem(last=False)
    return grouped


def in_a_group(db: Database, run_id: int) -> bool:
    """Whether the run belongs to a concurrency group (only then can its end free one)."""
    key = (str(db.engine.url), run_id)
    if key in _GROUPED:
        return _GROUPED[key]
    with db.session() as session:
        found = bool(session.scalar(select(Run.concurrency_group).where(Run.id == run_id)))
        return _keep_group(key, found) if waking.keeps(session) else found


def admit(
    session: Session, policy: Concurrency, subscription: str, event: Event, run: Run
) -> Admitted:
    """Start, queue or skip the new `run` (flushed, `created`), and cancel what it supersedes."""
    try:
        group = policy.group(event, subscription)[:GROUP_LENGTH]
    except SpecError as exc:
        # The subscription asks for a group this event cannot give: fail where users look.
        lifecycle.transition(session, run, S.FAILED, "ConcurrencyGroup", str(exc))
        return Admitted(False, [Check("concurrency", False, str(exc))])
    _lock(session, run.project_id, group)
    others = [r for r in _group_runs(session, run.project_id, group) if r.id != run.id]
    admission = policy.decide(event, group, [_as_group_run(r) for r in others], utcnow())
    run.concurrency_group = group
    checks = [Check("concurrency", admission.action != "skip", admission.reason)]
    for cancellation in admission.cancel:
        superseded = session.get(Run, cancellation.run_id, with_for_update=True)
        if superseded is not None:
            stop(session, superseded, cancellation.reason)
        checks.append(Check("concurrency", True, cancellation.reason))
    if admission.action == "queue":
        lifecycle.transition(session, run, S.ON_SCHEDULE, "ConcurrencyGroup", admission.reason)
        if admission.not_before is not None:
            _ask_again(session, run.id, admission.not_before)
    elif admission.action == "skip":
        lifecycle.transition(session, run, S.SKIPPED, "ConcurrencyGroup", admission.reason)
    return Admitted(admission.action == "start", checks)


def advance(rt: Runtime, session: Session, run_id: int) -> None:
    """Start the waiting run of `run_id`'s group whose turn has come, if one has.

    Safe to call twice and for any run: a run in no group, or a group that is not free, is
    left alone; a debounce window still open is asked about again when it closes.
    """
    run = session.get(Run, run_id)
    if run is None or not run.concurrency_group:
        return
    project_id, group = run.project_id, run.concurrency_group
    _lock(session, project_id, group)
    runs = _group_runs(session, project_id, group)
    turn = _policy(session, runs).next_start(group, [_as_group_run(r) for r in runs], utcnow())
    if turn.run_id is not None:
        _release(rt, session, next(r for r in runs if r.id == turn.run_id), turn)
    elif turn.at is not None:
        _ask_again(session, run_id, turn.at)


def overdue(session: Session, waited_since: datetime) -> list[int]:
    """For the sweeper: a run of each group whose waiting run may start now and has waited
    since before `waited_since`, so the task that should have started it was lost."""
    waiting = session.execute(
        select(Run.project_id, Run.concurrency_group, func.min(Run.id))
        .where(
            Run.status == S.ON_SCHEDULE,
            Run.concurrency_group.is_not(None),
            Run.updated_at < waited_since,
        )
        .group_by(Run.project_id, Run.concurrency_group)
    )
    due, now = [], utcnow()
    for project_id, group, run_id in waiting:
        assert group is not None
        runs = _group_runs(session, project_id, group)
        turn = _policy(session, runs).next_start(group, [_as_group_run(r) for r in runs], now)
        if turn.run_id is not None:
            due.append(run_id)
    return due


def _release(rt: Runtime, session: Session, run: Run, turn: Turn) -> None:
    session.refresh(run, with_for_update=True)
    if run.status != S.ON_SCHEDULE:  # an earlier attempt released it, or it was stopped
        return
    log.info("run %s: %s", run.uuid, turn.reason)
    # Held runs were never compiled: compiling moves them on_schedule → compiled (or failed,
    # which frees the group again and asks for the next turn).
    launch.compile_run(rt, session, run)
    if run.status == S.COMPILED:
        _send(session, "start_run", run.id)


def _policy(session: Session, runs: list[Run]) -> Concurrency:
    """The concurrency of the subscription whose run waits longest: its debounce decides."""
    waiting = sorted((r for r in runs if r.status == HELD), key=lambda r: (r.created_at, r.id))
    row = session.get(Subscription, waiting[0].subscription_id) if waiting else None
    if row is None or not row.spec.get("concurrency"):
        return NO_DEBOUNCE
    try:
        return compile_subscription(row.id, row.name, row.spec).concurrency or NO_DEBOUNCE
    except (SpecError, SpecErrors):
        return NO_DEBOUNCE


def _group_runs(session: Session, project_id: int, group: str) -> list[Run]:
    """The group's runs that are not done (a stopping run no longer holds it)."""
    return list(
        session.scalars(
            select(Run)
            .where(
                Run.project_id == project_id,
                Run.concurrency_group == group,
                Run.status.not_in([str(s) for s in IGNORED]),
            )
            .order_by(Run.id)
        )
    )


def _as_group_run(run: Run) -> GroupRun:
    return GroupRun(run.id, run.status, run.created_at, str((run.event or {}).get("ref") or ""))


def _lock(session: Session, project_id: int, group: str) -> None:
    """Admit and release one at a time per group, so two deliveries cannot both start."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: every writing transaction is BEGIN IMMEDIATE, one at a time already.
    digest = hashlib.blake2b(f"{project_id}:{group}".encode(), digest_size=8).digest()
    session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest, signed=True))))


def stop(session: Session, run: Run, why: str) -> None:
    """Stop `run` and what it started, and have their runners told once the transaction
    commits."""
    for run_id in tree.stop(session, run, why):
        _send(session, "stop_run", run_id)


def _ask_again(session: Session, run_id: int, at: datetime) -> None:
    wait = max((at - utcnow()).total_seconds(), 0.0) + 0.5  # rather late than early
    _send(session, "start_next_in_group", run_id, countdown=wait)


def _send(session: Session, name: str, run_id: int, **options: float) -> None:
    """Enqueue the task `axon.<name>` once the transaction commits."""
    after_commit(session, lambda: runtime.enqueue(f"axon.{name}", run_id, **options))
