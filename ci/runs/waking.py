"""What wakes a controller: a child's end, or a status a sibling's `events` watch.

The reaction (ci.tasks.wake_pipeline) asks for the controller's advance once until it begins
(`advance_asked_at`; ci.runs.pipelines clears it as an advance begins), so the ends of a
fan-in publish a few advances, not one each.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import Connection, Executable, event, inspect, select, text, update
from sqlalchemy.orm import Session

from ci.store import first_trip
from ci.store.db import Database, utcnow, without_waiting_for_disk
from ci.store.models import Run
from schemas.status import DONE, RunStatus


def ask_advance(session: Session, parent_id: int) -> bool:
    """Ask for the controller's advance; True when none was asked for and not yet begun, and
    the caller must publish `axon.advance_pipeline` (after commit). A burst of ends asks once:
    the one advance that follows reads every child as it then is."""
    return bool(getattr(session.execute(_asking(parent_id)), "rowcount", 0))


def _asking(parent_id: int) -> Executable:
    return (
        update(Run)
        .where(Run.id == parent_id, Run.advance_asked_at.is_(None))
        .values(advance_asked_at=utcnow(), updated_at=Run.updated_at)  # not a change of state
        .execution_options(synchronize_session=False)
    )


def bookkeep(db: Database, statement: Executable) -> int:
    """Run `statement`, an UPDATE whose loss in a database crash costs nothing but a re-send by
    the sweeper (an ask, a report cursor), on its own without waiting for the disk; its rowcount.

    On PostgreSQL it is one round trip, not four (BEGIN, SET LOCAL, the UPDATE, COMMIT): the SET
    LOCAL goes in the statement's own query string, which PostgreSQL runs as one transaction."""
    with db.single_statement() as conn:
        if not first_trip.autocommits(conn.connection.driver_connection):
            if conn.dialect.name == "postgresql":  # a transaction of its own (tests: nested)
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            return int(getattr(conn.execute(statement), "rowcount", 0))
        event.listen(conn, "before_cursor_execute", _not_waiting_for_disk, retval=True)
        try:
            return int(getattr(conn.execute(statement), "rowcount", 0))
        finally:
            event.remove(conn, "before_cursor_execute", _not_waiting_for_disk)


def _not_waiting_for_disk(
    _conn: Connection, _cursor: Any, statement: str, parameters: Any, *_: Any
) -> tuple[str, Any]:
    return f"SET LOCAL synchronous_commit TO OFF; {statement}", parameters


# A run's controller and the statuses a sibling watches are set when it is created and never
# change: each process reads them once per run, not once per status (a dag's op reaches five).
# Kept per database (a process may use several, one after another, whose ids overlap), and
# only on PostgreSQL, whose ids never repeat: SQLite gives a deleted run's id to the next.
_WAKES: OrderedDict[tuple[str, int], tuple[int | None, frozenset[str]]] = OrderedDict()
_WAKES_KEPT = 8192


def remember_wake(session: Session, run: Run) -> None:
    """Keep what `parent_to_wake` reads of `run`, a row already loaded (its meta too)."""
    if {"meta", "parent_id"} & inspect(run).unloaded or not keeps(session):
        return
    _keep_wake(_wake_key(session, run.id), run.parent_id, (run.meta or {}).get("wake") or ())


def keeps(session: Session) -> bool:
    """Whether what a run's row says of itself once may be kept by id (see above)."""
    return session.get_bind().dialect.name == "postgresql"


def _wake_key(session: Session, run_id: int) -> tuple[str, int]:
    return (str(session.get_bind().engine.url), run_id)


def _keep_wake(
    key: tuple[str, int], parent_id: int | None, wake: Any, keep: bool = True
) -> tuple[int | None, frozenset[str]]:
    found = (parent_id, frozenset(str(status) for status in wake))
    if not keep:
        return found
    _WAKES[key] = found
    while len(_WAKES) > _WAKES_KEPT:
        _WAKES.popitem(last=False)
    return found


def wake(db: Database, run_id: int, status: RunStatus) -> int | None:
    """Ask for the advance of the controller `run_id`'s new status may move: its id when the
    caller must publish `axon.advance_pipeline` (after commit), else None.

    A status no controller reacts to (a child's compiled, queued or scheduled, unless a sibling
    watches it) costs no transaction once the run's controller is known to this process."""
    found = _WAKES.get((str(db.engine.url), run_id))
    if found is not None:
        parent_id = _moved(found, status)
        if parent_id is None or not bookkeep(db, _asking(parent_id)):
            return None
        return parent_id
    with db.session() as session:
        without_waiting_for_disk(session)
        parent_id = parent_to_wake(session, run_id, status)
        if parent_id is not None and ask_advance(session, parent_id):
            return parent_id
    return None


def parent_to_wake(session: Session, run_id: int, status: RunStatus) -> int | None:
    """The controller a child's new status may move: any end, or a status a sibling watches."""
    key = _wake_key(session, run_id)
    found = _WAKES.get(key)
    if found is None:
        row = session.execute(select(Run.parent_id, Run.meta).where(Run.id == run_id)).first()
        if row is None:
            return None
        wake = (row.meta or {}).get("wake") or ()
        found = _keep_wake(key, row.parent_id, wake, keep=keeps(session))
    return _moved(found, status)


def _moved(found: tuple[int | None, frozenset[str]], status: RunStatus) -> int | None:
    parent_id, wake = found
    if parent_id is not None and (status in DONE or str(status) in wake):
        return int(parent_id)
    return None
