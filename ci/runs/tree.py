"""The run tree: a run's children, stopping a run with what it started, and deleting a subtree.

A dag's ops, a matrix's trials and a schedule's fired runs are children of that controller run.
Stopping a parent stops its live children first, each child's history saying why; the parent
goes `stopping` while some child still has to end (the engine ends it `stopped` when the last
one does), else `stopped` at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.runs import launch, lifecycle
from ci.runs.kinds import CONTROLLERS
from ci.store.models import Run
from schemas.status import DONE, RunStatus

S = RunStatus
# What a controller run is: it starts children and no runner holds it.
DONE_NAMES = [str(s) for s in DONE]


def children(session: Session, run: Run, limit: int | None = None, offset: int = 0) -> list[Run]:
    """The runs `run` made, oldest first."""
    query = select(Run).where(Run.parent_id == run.id).order_by(Run.id).offset(offset)
    return list(session.scalars(query if limit is None else query.limit(limit)))


def has_children(session: Session, run: Run) -> bool:
    return session.scalar(select(Run.id).where(Run.parent_id == run.id).limit(1)) is not None


def live_descendants(session: Session, run: Run) -> list[Run]:
    """The runs below `run`, at any depth, that are not done yet, oldest first."""
    level = select(Run.id).where(Run.parent_id == run.id).cte("subtree", recursive=True)
    level = level.union_all(select(Run.id).where(Run.parent_id == level.c.id))
    query = select(Run).where(Run.id.in_(select(level.c.id)), Run.status.not_in(DONE_NAMES))
    return list(session.scalars(query.order_by(Run.id)))


def is_controller(session: Session, run: Run) -> bool:
    return run.kind in CONTROLLERS or has_children(session, run)


def stop(session: Session, run: Run, why: str) -> list[int]:
    """Stop `run` and everything it started that still lives; `why` goes in its history.

    The caller holds `run`'s row (FOR UPDATE). Returns the ids of the runs a runner holds,
    which the caller sends `axon.stop_run` for once the transaction commits.
    """
    return _stop(session, run, why, is_controller(session, run))


def _stop(session: Session, run: Run, why: str, controller: bool) -> list[int]:
    if run.status in DONE:
        return []
    on_runner: list[int] = []
    live: list[Run] = []
    if controller:
        # Parent before children, in id order: the same order the engine locks them in.
        live = list(
            session.scalars(
                select(Run)
                .where(Run.parent_id == run.id, Run.status.not_in(DONE_NAMES))
                .order_by(Run.id)
                .with_for_update()
            )
        )
        # One query for the whole level rather than one per child: a dag may have many ops.
        parents = set(
            session.scalars(select(Run.parent_id).where(Run.parent_id.in_([c.id for c in live])))
        )
        because = f"stopped with its parent run {run.id}: {why}"
        for child in live:
            is_parent = child.kind in CONTROLLERS or child.id in parents
            on_runner += _stop(session, child, because, is_parent)
    if run.status == S.STOPPING:
        return on_runner
    if not controller or run.external_id:
        if launch.request_stop(session, run, why):
            on_runner.append(run.id)
        return on_runner
    waiting = any(child.status not in DONE for child in live)
    if waiting and lifecycle.can_transition(run.status, S.STOPPING):
        lifecycle.transition(session, run, S.STOPPING, "StopRequested", why)
    else:
        lifecycle.transition(session, run, S.STOPPED, "StopRequested", why)
    return on_runner


def delete(session: Session, run: Run) -> None:
    """Delete a done run with its subtree (the database cascades to the children).

    Callers check `live_descendants` first: deleting a run whose children live is refused.
    """
    session.delete(run)
