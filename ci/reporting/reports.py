"""Build one Report per status change and hand it to every target that wants it, in order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from ci.reporting import asking, pipelines, recipients
from ci.reporting import attempts as attempts
from ci.runtime import Runtime
from ci.store.db import Database, utcnow
from ci.store.models import Condition, Notification, Run
from notifiers.registry import notifiers
from schemas.status import RunStatus

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
# A pass longer than this renews its lease, so no other reporter takes the tree meanwhile.
RENEW_AFTER = LEASE / 4


def _lease(db: Database, run_id: int) -> bool:
    now = utcnow()
    with db.session() as session:
        claimed = session.execute(
            update(Run)
            .where(Run.id == run_id)
            .where(or_(Run.report_lease_until.is_(None), Run.report_lease_until < now))
            # Taken in hand: whatever the sweeper re-sent has arrived, its count starts over,
            # and what was asked for is begun (a status from now on asks again).
            .values(
                report_lease_until=now + LEASE,
                report_asked_at=None,
                report_resent_at=None,
                report_resent_count=0,
                updated_at=Run.updated_at,
            )
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _renew(db: Database, top_id: int) -> None:
    with db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == top_id)
            .values(report_lease_until=utcnow() + LEASE, updated_at=Run.updated_at)
        )


def report_run(rt: Runtime, run_id: int) -> list[float]:
    """Send every condition not yet reported, oldest first, to every target that wants it.

    One reporter per run at a time (a lease on the run row), and each target hears of the
    run's statuses in order: a later status goes to a target only once the earlier one is
    settled (sent, skipped or failed), so a late `running` never reaches a target after
    `succeeded`. Targets do not wait for each other: one that fails waits for its next try
    while the others hear of this status and the later ones. Its tries and when the next is
    due are on its notification row, so neither a re-sent task nor a restarted worker starts
    its budget over; after AXON_NOTIFY_MAX_ATTEMPTS tries it is `failed`, with the reason.

    A pipeline reports as one run: a call for any run of a tree reports the whole tree under
    its top's lease, the statuses of all its runs in the order they came, so an op's edit of
    the pipeline's message never overtakes the pipeline's own final status.

    A call that finds the lease taken returns at once: the holder looks again after letting
    go, so nothing this call was for is left behind. Returns the seconds until each retry
    this call made necessary is due; the caller sends a report task for each.
    """
    with rt.db.session() as session:
        top_id = pipelines.top_of(session, run_id)
    waits: list[float] = []
    while _lease(rt.db, top_id):
        seen = 0
        try:
            seen = _report_pass(rt, top_id, waits)
        finally:
            with rt.db.session() as session:
                session.execute(
                    update(Run)
                    .where(Run.id == top_id)
                    .values(report_lease_until=None, updated_at=Run.updated_at)
                )
        if not _newer(rt.db, top_id, seen):
            break
    return waits


def _newer(db: Database, top_id: int, seen: int) -> bool:
    """Whether a status came after condition `seen` (and after its run's cursor) in the tree
    while we reported, or a retry fell due, or a pass was asked for since ours began: the
    tasks sent for any of them found the lease taken and left it to us. (A status the pass
    read anyway still asked; the ask is cleared by taking the lease again, else no later
    status would ask.)"""
    with db.session() as session:
        if session.scalar(select(Run.report_asked_at).where(Run.id == top_id)) is not None:
            return True
        tree = pipelines.tree(session, top_id)
        newer = (
            select(Condition.id)
            .join(Run, Run.id == Condition.run_id)
            .where(
                Condition.run_id.in_(tree),
                Condition.id > Run.report_cursor,
                Condition.id > seen,
            )
            .limit(1)
        )
        due = (
            select(Notification.id)
            .where(
                Notification.run_id.in_(tree),
                Notification.state == "retrying",
                Notification.next_attempt_at <= utcnow(),
            )
            .limit(1)
        )
        return session.scalar(newer) is not None or session.scalar(due) is not None


@dataclass(frozen=True)
class _Step:
    """One unreported status of a run of the tree; for an op, the pipeline's targets that are
    to hear of it by an edit of the pipeline's message."""

    condition_id: int
    run_id: int
    edits: frozenset[str] = frozenset()
    # Whether any target may hear of it: else it is settled without a look.
    heard: bool = True


def _report_pass(rt: Runtime, top_id: int, waits: list[float]) -> int:
    """Try every unreported condition of the tree once, oldest first; returns the last id.

    Each run's cursor moves past each of its conditions that every target has settled, as
    long as all the conditions before it, of every run of the tree, are settled too.
    """
    with rt.db.session() as session:
        tree = pipelines.tree(session, top_id)
        steps = _steps(rt, session, top_id, tree)
        hooked = asking.hooks(session, sorted({step.run_id for step in steps}))
    waiting: set[str] = set()  # targets with a status not yet settled: later ones wait
    cursors: dict[int, int] = {}
    renewed = utcnow()
    try:
        for step in steps:
            if utcnow() - renewed > RENEW_AFTER:
                _renew(rt.db, top_id)
                renewed = utcnow()
            settled = True
            if step.heard or step.run_id in hooked:
                settled = _report_condition(
                    rt, top_id, tree, step, hooked.get(step.run_id), waiting, waits
                )
            if settled and not waiting:
                cursors[step.run_id] = step.condition_id
    finally:
        if cursors:
            with rt.db.session() as session:
                # An op's report is taken in hand here, not by a lease of its own: what the
                # sweeper re-sent for it has arrived, its count starts over. One statement
                # for every run of the tree (executemany).
                session.execute(
                    _MOVE_CURSOR,
                    [{"run": run_id, "cursor": cursor} for run_id, cursor in cursors.items()],
                )
    return steps[-1].condition_id if steps else 0


_RUNS: Table = Run.__table__  # type: ignore[assignment]  # a mapped class's own table
_MOVE_CURSOR = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("run"))
    .values(
        report_cursor=bindparam("cursor"),
        report_resent_at=None,
        report_resent_count=0,
        updated_at=_RUNS.c.updated_at,
    )
)


def _steps(rt: Runtime, session: Session, top_id: int, tree: list[int]) -> list[_Step]:
    """The tree's unreported conditions, oldest first; each op's change is to be told to the
    pipeline's targets that edit in place and want both its status and the pipeline's, unless
    a later step edits the same message anyway (it shows the op's line as it is then)."""
    rows = session.execute(
        select(Condition.id, Condition.run_id, Condition.status)
        .join(Run, Run.id == Condition.run_id)
        .where(Condition.run_id.in_(tree), Condition.id > Run.report_cursor)
        .order_by(Condition.id)
    ).all()
    if not rows:
        return []
    top = session.get(Run, top_id, options=asking.LIGHT)
    if len(tree) == 1 or top is None:
        return [_Step(condition_id, run_id) for condition_id, run_id, _ in rows]
    # An op's status is heard through an edit of the pipeline's message, its own hooks, or a
    # try of a target that failed and is due again.
    unsettled = set(
        session.scalars(
            select(Notification.condition_id).where(
                Notification.run_id.in_({run_id for _, run_id, _ in rows}),
                Notification.condition_id >= rows[0][0],
                Notification.state.not_in(attempts.SETTLED),
            )
        )
    )
    editors: dict[str, frozenset[RunStatus]] = {}
    for name in recipients.targets(rt, top):
        notifier = notifiers.get(name, **rt.settings.notifier_config(name))
        if notifier.edits_in_place:
            editors[name] = notifier.wants
    pipeline = list(
        session.execute(
            select(Condition.id, Condition.status)
            .where(Condition.run_id == top_id)
            .order_by(Condition.id)
        )
    )
    told: list[set[str]] = []
    for condition_id, run_id, status in rows:
        if run_id == top_id:
            told.append({name for name, wants in editors.items() if status in wants})
            continue
        before = [state for at, state in pipeline if at < condition_id]
        told.append(
            {
                name
                for name, wants in editors.items()
                if before and status in wants and before[-1] in wants
            }
        )
    steps: list[_Step] = []
    later: set[str] = set()
    for (condition_id, run_id, _), names in zip(reversed(rows), reversed(told), strict=True):
        edits = frozenset(names - later) if run_id != top_id else frozenset()
        heard = run_id == top_id or bool(edits) or condition_id in unsettled
        steps.append(_Step(condition_id, run_id, edits, heard))
        later |= names
    steps.reverse()
    return steps


def _report_condition(
    rt: Runtime,
    top_id: int,
    tree: list[int],
    step: _Step,
    hooks: dict[str, Any] | None,
    waiting: set[str],
    waits: list[float],
) -> bool:
    """Tell each target of one status, unless it waits; True when every one is settled.

    Sending happens outside any transaction: a slow target must not hold database locks.
    """
    with rt.db.session() as session:
        run = session.get(Run, step.run_id, options=asking.LIGHT)
        condition = session.get(Condition, step.condition_id)
        top = run if step.run_id == top_id else session.get(Run, top_id, options=asking.LIGHT)
        if run is None or condition is None or top is None:
            return True
        work = recipients.pending(rt, session, run, condition, top, tree, step.edits, hooks)
    now, settled = utcnow(), True
    for item, report in work:
        name = item.target.name
        if name in waiting or (item.due is not None and item.due > now):
            waiting.add(name)
            settled = False
            continue
        wait = attempts.send(rt, item, report, condition)
        if wait is not None:
            waiting.add(name)
            waits.append(wait)
            settled = False
    return settled
