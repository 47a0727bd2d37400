"""Re-send the work a lost message would otherwise strand: the outbox's other half.

That includes a concurrency group's waiting run whose turn has come (its group is free, its
debounce window closed) but which no task started, and a running pipeline controller (dag,
matrix, schedule) whose child's end went unheard: its advance is sent again.

Only what is really lost is sent again. Work that has waited the sweep age may still be in the
queue, behind a backlog: the sweeper then sends a probe (ci.agent.probes) and re-sends only the work
whose message went before a probe a worker has seen. Each re-send is marked on its row
(`resent_at`, and how many times since the run's state last changed), and the next one waits
twice as long as the one before; a run whose state moved on since its mark is judged afresh.
A report's mark is cleared whenever a reporter takes the run in hand.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from ci import runtime
from ci.agent import probes
from ci.reporting import progress
from ci.runs import groups
from ci.runs.kinds import CONTROLLERS
from ci.runtime import Runtime
from ci.store.db import utcnow
from ci.store.models import Condition, Delivery, Notification, OutboxEntry, Run
from schemas.status import DeliveryStatus, NotificationState, RunStatus

log = logging.getLogger(__name__)
S = RunStatus
NOT_SUBMITTED = (S.CREATED, S.COMPILED, S.QUEUED)
BATCH = 500  # rows of one kind re-sent per sweep; the next sweep takes the rest
# However often a run's work was sent again, it is sent again at least this often (or once per
# sweep age, when that is longer): a run queued behind a full queue still gets its start.
MAX_RESEND_INTERVAL = timedelta(minutes=10)
# (row id, when the message that should have done its work was last published)
Due = list[tuple[int, datetime]]


def sweep(rt: Runtime) -> dict[str, int]:
    """Enqueue again every delivery, start, stop, turn and report whose message was lost."""
    age = timedelta(seconds=rt.settings.sweep_after_seconds)
    now = utcnow()
    with rt.db.session() as session:
        through = probes.passed(session)
        found: dict[str, Due] = {
            "deliveries": _stale_deliveries(session, now - age),
            "starts": _due_runs(session, now, age, _startable()),
            "stops": _due_runs(session, now, age, Run.status == S.STOPPING),
            "turns": _due_turns(session, now, age, through),
            "reports": _due_reports(session, now, age),
            "advances": _due_advances(session, now, age),
            "progress": progress.overdue(session, now - age),
        }
    # Lost: its message went before a probe a worker has seen, and the work is still not done.
    lost = {
        kind: [i for i, sent in due if through and sent < through] for kind, due in found.items()
    }
    publish = _Publisher()
    sent = {
        "deliveries": publish("axon.process_delivery", lost["deliveries"]),
        "starts": publish("axon.start_run", lost["starts"]),
        "stops": publish("axon.stop_run", lost["stops"]),
        "turns": publish("axon.start_next_in_group", lost["turns"]),
        "reports": publish("axon.report_run", lost["reports"]),
        "advances": publish("axon.advance_pipeline", lost["advances"]),
        "progress": publish(progress.TASK, lost["progress"]),
    }
    # Only what was published is marked: work the broker refused goes again next sweep.
    with rt.db.session() as session:
        _mark_deliveries(session, now, sent["deliveries"])
        _mark_runs(
            session, now, [*sent["starts"], *sent["stops"], *sent["turns"], *sent["advances"]]
        )
        _mark_reports(session, now, sent["reports"])
        progress.mark_resent(session, now, sent["progress"])
    if any(len(due) > len(lost[kind]) for kind, due in found.items()):
        probes.send(rt, now, age)  # the rest may be behind a backlog: find out
    counts = {kind: len(ids) for kind, ids in sent.items()}
    if any(counts.values()):
        log.info("sweeper re-sent %s", counts)
    if publish.refused:
        log.warning("sweeper: the broker refused a message; the rest waits for the next sweep")
    return counts


class _Publisher:
    """Publishes each kind's tasks until the broker refuses one, and then no other kind's."""

    def __init__(self) -> None:
        self.refused = False

    def __call__(self, task_name: str, ids: list[int]) -> list[int]:
        if self.refused:
            return []
        sent = runtime.enqueue_each(task_name, ids)
        self.refused = len(sent) < len(ids)
        return sent


def waited_enough(now: datetime, age: timedelta, resent_at: datetime | None, count: int) -> bool:
    """Whether work last re-sent at `resent_at`, `count` times so far, may be re-sent now."""
    if resent_at is None or count <= 0:
        return True
    interval = min(age * 2 ** min(count, 20), max(age, MAX_RESEND_INTERVAL))
    return now - resent_at >= interval


def _stale_deliveries(session: Session, cutoff: datetime) -> Due:
    """Deliveries still `received` long after they were enqueued.

    The relay publishes without writing the delivery's row: one it published has left the
    outbox and has no `enqueued_at` (only a re-send marks one), so its receipt stands for its
    publishing, a little earlier than it was: at worst a delivery the relay published late,
    behind a backlog, is sent once more, which its task is safe to take."""
    sent = func.coalesce(Delivery.enqueued_at, Delivery.received_at)
    published = ~exists().where(OutboxEntry.delivery_id == Delivery.id)
    rows = session.execute(
        select(Delivery.id, sent.label("sent"))
        .where(Delivery.status == DeliveryStatus.RECEIVED, sent < cutoff, published)
        .order_by(Delivery.id)
        .limit(BATCH)
    ).all()
    return [(row.id, row.sent) for row in rows]


def _mark_deliveries(session: Session, now: datetime, ids: list[int]) -> None:
    if ids:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=now))


def _due_runs(session: Session, now: datetime, age: timedelta, *where: ColumnElement[bool]) -> Due:
    """Runs matching `where`, unchanged for `age`, whose mark lets them be re-sent now."""
    cutoff = now - age
    rows = session.execute(
        select(Run.id, Run.resent_at, Run.resent_count, Run.updated_at)
        .where(*where, Run.updated_at < cutoff)
        .where(or_(Run.resent_at.is_(None), Run.resent_at < cutoff))
        .order_by(Run.id)
        .limit(BATCH)
    ).all()
    due: Due = []
    for row in rows:
        if _moved_on(row.resent_at, row.updated_at):
            due.append((row.id, row.updated_at))
        elif waited_enough(now, age, row.resent_at, row.resent_count):
            due.append((row.id, row.resent_at))
    return due


def _startable() -> ColumnElement[bool]:
    """Runs a start task takes further: not yet submitted and waiting for nothing (an approval,
    a dag's upstreams), or failed on a runner that leaves retries to the core."""
    retrying = and_(Run.status == S.RETRYING, Run.external_id.is_(None))
    return and_(or_(Run.status.in_(NOT_SUBMITTED), retrying), Run.pending.is_(None))


def _controlling() -> tuple[ColumnElement[bool], ...]:
    """Controller runs (dag, matrix, schedule) still running: a child's end may be unheard."""
    return (
        Run.kind.in_(CONTROLLERS),
        Run.status.in_((S.RUNNING, S.STOPPING)),
    )


def _due_advances(session: Session, now: datetime, age: timedelta) -> Due:
    """Running controllers unchanged for `age` (a child's end may have gone unheard), or whose
    advance was asked for `age` ago and has not begun (its message went when it was asked)."""
    cutoff = now - age
    asked = Run.advance_asked_at < cutoff
    rows = session.execute(
        select(Run.id, Run.resent_at, Run.resent_count, Run.updated_at, Run.advance_asked_at)
        .where(*_controlling(), or_(Run.updated_at < cutoff, asked))
        .where(or_(Run.resent_at.is_(None), Run.resent_at < cutoff))
        .order_by(Run.id)
        .limit(BATCH)
    ).all()
    due: Due = []
    for row in rows:
        sent = row.advance_asked_at if row.advance_asked_at is not None else row.updated_at
        sent = sent if sent < cutoff else row.updated_at
        if _moved_on(row.resent_at, sent):
            due.append((row.id, sent))
        elif waited_enough(now, age, row.resent_at, row.resent_count):
            due.append((row.id, row.resent_at))
    return due


def _due_turns(session: Session, now: datetime, age: timedelta, through: datetime | None) -> Due:
    """A waiting run of each group whose turn has come and that no task started."""
    # Only a run in a concurrency group can be owed a turn (groups.overdue knows).
    overdue = groups.overdue(session, min(now - age, through or now))
    return _due_runs(session, now, age, Run.id.in_(overdue)) if overdue else []


def _mark_runs(session: Session, now: datetime, run_ids: list[int]) -> None:
    if not run_ids:
        return
    afresh = or_(Run.resent_at.is_(None), Run.resent_at < Run.updated_at)
    session.execute(
        update(Run)
        .where(Run.id.in_(run_ids))
        .values(
            resent_at=now,
            resent_count=case((afresh, 1), else_=Run.resent_count + 1),
            **_unchanged(),
        )
    )


def _moved_on(resent_at: datetime | None, updated_at: datetime) -> bool:
    """The run changed after its last re-send: that mark says nothing about its new state."""
    return resent_at is None or resent_at < updated_at


def _due_reports(session: Session, now: datetime, age: timedelta) -> Due:
    """Runs with a status no target has settled for `age`, that no reporter will look at."""
    cutoff = now - age
    unreported = exists().where(
        Condition.run_id == Run.id, Condition.id > Run.report_cursor, Condition.at < cutoff
    )
    # A retry that is due in the future (or only just) was sent with a countdown; when it comes
    # it looks at every status of the run, not only its own.
    retry_on_its_way = exists().where(
        Notification.run_id == Run.id,
        Notification.state == NotificationState.RETRYING,
        Notification.next_attempt_at >= cutoff,
    )
    # A pass of a tree was asked for (ci.reporting.asking) and has not begun: its message went
    # when it was asked for; the statuses since asked for nothing more.
    asked = Run.report_asked_at < cutoff
    # Each status asked for a report; the last one would have reported them all.
    last_status = select(func.max(Condition.at)).where(Condition.run_id == Run.id)
    rows = session.execute(
        select(
            Run.id,
            Run.report_resent_at,
            Run.report_resent_count,
            Run.report_asked_at,
            last_status.scalar_subquery(),
        )
        .where(or_(and_(unreported, ~retry_on_its_way), asked))
        .where(or_(Run.report_lease_until.is_(None), Run.report_lease_until < now))
        .where(or_(Run.report_resent_at.is_(None), Run.report_resent_at < cutoff))
        .order_by(Run.id)
        .limit(BATCH)
    ).all()
    due: Due = []
    for run_id, resent_at, count, asked_at, last in rows:
        sent = asked_at if asked_at is not None and asked_at < cutoff else last
        if waited_enough(now, age, resent_at, count):
            due.append((run_id, max(sent, resent_at or sent)))
    return due


def _mark_reports(session: Session, now: datetime, run_ids: list[int]) -> None:
    if not run_ids:
        return
    session.execute(
        update(Run)
        .where(Run.id.in_(run_ids))
        .values(
            report_resent_at=now,
            report_resent_count=Run.report_resent_count + 1,
            **_unchanged(),
        )
    )


def _unchanged() -> dict[str, Any]:
    """Keeps `updated_at`: a mark is not a change of the run's state."""
    return {"updated_at": Run.updated_at}
