"""What wakes a controller: a child's end, or a status a sibling's `events` watch.

The reaction (ci.tasks.wake_pipeline) asks for the controller's advance once until it begins
(`advance_asked_at`; ci.runs.pipelines clears it as an advance begins), so the ends of a
fan-in publish a few advances, not one each.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from ci.store.db import utcnow
from ci.store.models import Run
from schemas.status import DONE, RunStatus


def ask_advance(session: Session, parent_id: int) -> bool:
    """Ask for the controller's advance; True when none was asked for and not yet begun, and
    the caller must publish `axon.advance_pipeline` (after commit). A burst of ends asks once:
    the one advance that follows reads every child as it then is."""
    asked = session.execute(
        update(Run)
        .where(Run.id == parent_id, Run.advance_asked_at.is_(None))
        .values(advance_asked_at=utcnow(), updated_at=Run.updated_at)  # not a change of state
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(asked, "rowcount", 0))


# A run's controller and the statuses a sibling watches are set when it is created and never
# change: each process reads them once per run, not once per status (a dag's op reaches five).
# Kept per database (a process may use several, one after another, whose ids overlap).
_WAKES: OrderedDict[tuple[str, int], tuple[int | None, frozenset[str]]] = OrderedDict()
_WAKES_KEPT = 8192


def remember_wake(session: Session, run: Run) -> None:
    """Keep what `parent_to_wake` reads of `run`, a row already loaded (its meta too)."""
    if {"meta", "parent_id"} & inspect(run).unloaded:
        return
    _keep_wake(_wake_key(session, run.id), run.parent_id, (run.meta or {}).get("wake") or ())


def _wake_key(session: Session, run_id: int) -> tuple[str, int]:
    return (str(session.get_bind().engine.url), run_id)


def _keep_wake(
    key: tuple[str, int], parent_id: int | None, wake: Any
) -> tuple[int | None, frozenset[str]]:
    found = (parent_id, frozenset(str(status) for status in wake))
    _WAKES[key] = found
    while len(_WAKES) > _WAKES_KEPT:
        _WAKES.popitem(last=False)
    return found


def parent_to_wake(session: Session, run_id: int, status: RunStatus) -> int | None:
    """The controller a child's new status may move: any end, or a status a sibling watches."""
    key = _wake_key(session, run_id)
    found = _WAKES.get(key)
    if found is None:
        row = session.execute(select(Run.parent_id, Run.meta).where(Run.id == run_id)).first()
        if row is None:
            return None
        found = _keep_wake(key, row.parent_id, (row.meta or {}).get("wake") or ())
    parent_id, wake = found
    if parent_id is not None and (status in DONE or str(status) in wake):
        return int(parent_id)
    return None
