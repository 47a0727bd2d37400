"""A running run's progress told to the targets that show its status in place, at most once
per `AXON_PROGRESS_REPORT_INTERVAL` seconds each, the last word always sent.

Progress (`log_progress`, or a new metric step of a run that never calls it) asks for a send
(`ask`): due at once when the target's last send is a window old, else when the window ends;
a send already due takes the newer progress with it, since it reads the latest when it goes.
When each target's send is due is kept on its `progress_reports` row, so a lost or restarted
worker's send is found again (`overdue`, by the sweeper).

Only a target that shows the status in place hears it (a commit status, a check run, a pull
request's comment, a bot's Slack message): email and plain webhooks would get a message each.
A send edits what the run's `running` report left (its receipt), never posts anew, and it
happens under the reporter's lease on the run's tree, only while `running` is the run's last
status: a later status's report never runs beside it, so no progress overwrites a final text.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ci import runtime
from ci.reporting import asking, building, pipelines, progress_line, recipients, reports
from ci.runs import metrics
from ci.runtime import Runtime
from ci.store.db import Database, utcnow
from ci.store.models import Condition, Notification, ProgressReport, Run, RunTracking
from notifiers.base import Notifier, PermanentError, Receipt, Report
from notifiers.registry import notifiers
from schemas.status import NotificationState, RunStatus

log = logging.getLogger(__name__)
TASK = "axon.report_progress"
# While a status is being reported, the send waits this long and looks again.
BUSY_WAIT = 1.0


def shows_progress(notifier: Notifier) -> bool:
    """Whether `notifier` shows a running run's progress: it reports `running` and a send
    edits or replaces what it showed before."""
    in_place = notifier.edits_in_place or notifier.replaces_in_place
    return in_place and RunStatus.RUNNING in notifier.wants


def _notifier(rt: Runtime, name: str) -> Notifier:
    return notifiers.get(name, **rt.settings.notifier_config(name))


def _hearing(rt: Runtime, run: Run) -> dict[str, dict[str, Any]]:
    """The run's targets that show progress, each with its config."""
    found = recipients.targets(rt, run)
    return {name: config for name, config in found.items() if shows_progress(_notifier(rt, name))}


def ask(rt: Runtime, run_id: int) -> float | None:
    """Ask for the run's latest progress to be sent; the seconds until it is due when the
    caller is to publish TASK for it with that countdown, None when a send is already due or
    nobody hears of it."""
    window = timedelta(seconds=rt.settings.progress_report_interval)
    now = utcnow()
    with rt.db.session() as session:
        rows = list(
            session.scalars(
                select(ProgressReport).where(ProgressReport.run_id == run_id).with_for_update()
            )
        )
        if not rows:
            run = session.get(Run, run_id, options=asking.LIGHT)
            if run is None or run.status != RunStatus.RUNNING:
                return None
            rows = [ProgressReport(run_id=run_id, target=name) for name in _hearing(rt, run)]
            session.add_all(rows)
        if not rows or any(row.due_at is not None for row in rows):
            return None
        due = max([now, *(row.sent_at + window for row in rows if row.sent_at is not None)])
        for row in rows:
            row.due_at = due
    return (due - now).total_seconds()


def ask_and_publish(rt: Runtime, run_id: int) -> None:
    """`ask`, then publish the send it asks for. Never raises: progress is worth no error to
    the job that reported it, and the sweeper sends what a lost message left due."""
    try:
        wait = ask(rt, run_id)
    except Exception:
        log.warning("could not ask for run %s's progress report", run_id, exc_info=True)
        return
    if wait is not None:
        runtime.enqueue(TASK, run_id, countdown=wait)


def send(rt: Runtime, run_id: int) -> float | None:
    """Send the run's latest progress to each target whose send is due; the seconds until a
    send this call put off is due (the caller publishes TASK again for then), else None."""
    with rt.db.session() as session:
        top_id = pipelines.top_of(session, run_id)
    if not _lease(rt.db, top_id):
        return BUSY_WAIT if _next_due(rt.db, run_id) is not None else None
    try:
        return _send_due(rt, run_id)
    finally:
        if _release(rt.db, top_id):
            # A status's report found the lease taken meanwhile and left it to its holder.
            runtime.enqueue("axon.report_run", top_id)


def _lease(db: Database, top_id: int) -> bool:
    """Take the reporter's lease on the tree, without taking in hand what it was asked for."""
    now = utcnow()
    with db.session() as session:
        claimed = session.execute(
            update(Run)
            .where(Run.id == top_id)
            .where(or_(Run.report_lease_until.is_(None), Run.report_lease_until < now))
            .values(report_lease_until=now + reports.LEASE, updated_at=Run.updated_at)
        )
        return bool(getattr(claimed, "rowcount", 0))


def _release(db: Database, top_id: int) -> bool:
    """Let the lease go; whether a report of the tree was asked for while it was held."""
    with db.session() as session:
        session.execute(
            update(Run)
            .where(Run.id == top_id)
            .values(report_lease_until=None, updated_at=Run.updated_at)
        )
        asked = session.scalar(select(Run.report_asked_at).where(Run.id == top_id))
        unreported = session.scalar(
            select(Condition.id)
            .join(Run, Run.id == Condition.run_id)
            .where(Condition.run_id == top_id, Condition.id > Run.report_cursor)
            .limit(1)
        )
        return asked is not None or unreported is not None


def _next_due(db: Database, run_id: int) -> datetime | None:
    with db.session() as session:
        return session.scalar(
            select(ProgressReport.due_at)
            .where(ProgressReport.run_id == run_id, ProgressReport.due_at.is_not(None))
            .order_by(ProgressReport.due_at)
            .limit(1)
        )


def _send_due(rt: Runtime, run_id: int) -> float | None:
    """Under the lease: read the due targets and the run's progress, mark them sent, send."""
    window = timedelta(seconds=rt.settings.progress_report_interval)
    now = utcnow()
    sending: list[tuple[ProgressReport, Notifier, dict[str, Any], Receipt]] = []
    with rt.db.session() as session:
        rows = list(
            session.scalars(
                select(ProgressReport)
                .where(ProgressReport.run_id == run_id, ProgressReport.due_at.is_not(None))
                .with_for_update()
            )
        )
        due = [row for row in rows if row.due_at is not None and row.due_at <= now]
        if not due:  # came early: it goes again when the first is due
            later = [row.due_at for row in rows if row.due_at is not None]
            return (min(later) - now).total_seconds() if later else None
        run = session.get(Run, run_id, options=asking.LIGHT)
        condition = _running(session, run)
        if run is None or condition is None:
            for row in rows:  # a later status was (or is to be) reported: it has the last word
                row.due_at = None
            return None
        report = _report(rt, session, run, condition)
        config = _hearing(rt, run)
        for row in due:
            previous, settled = _previous(session, condition, row)
            row.due_at = None
            if row.target not in config or report is None or (settled and previous is None):
                continue  # nothing to edit: progress never posts a message of its own
            if previous is None:  # the running status is not reported yet: after it
                row.due_at = now + window
                continue
            row.sent_at = now
            sending.append((row, _notifier(rt, row.target), config[row.target], previous))
    put_off = [row.due_at for row in due if row.due_at is not None]
    for row, notifier, target, previous in sending:
        if report is not None and not _deliver(rt, row, notifier, report, target, previous):
            put_off.append(now + window)
    return (min(put_off) - now).total_seconds() if put_off else None


def _running(session: Session, run: Run | None) -> Condition | None:
    """The run's `running` condition, while it is the run's last."""
    if run is None or run.status != RunStatus.RUNNING:
        return None
    last = session.scalar(
        select(Condition).where(Condition.run_id == run.id).order_by(Condition.id.desc()).limit(1)
    )
    return last if last is not None and last.status == RunStatus.RUNNING else None


def _report(rt: Runtime, session: Session, run: Run, condition: Condition) -> Report | None:
    """The running status's report with the run's progress in it; None when it has none."""
    tracking = session.get(RunTracking, run.id)
    said = tracking.progress if tracking is not None else None
    found = {} if said else metrics.summary(session, run.id, "metric")
    text = progress_line.line(said, found)
    if not text:
        return None
    return replace(building.report(rt, run, condition, session), progress=text)


def _previous(
    session: Session, condition: Condition, row: ProgressReport
) -> tuple[Receipt | None, bool]:
    """The receipt a progress send to `row`'s target edits: its last progress send's, else
    the running status's; and whether that status is settled for the target (no receipt to
    come)."""
    told = session.scalar(
        select(Notification).where(
            Notification.run_id == condition.run_id,
            Notification.condition_id == condition.id,
            Notification.target == row.target,
        )
    )
    if told is None or told.state == NotificationState.RETRYING:
        return None, False
    if told.state != NotificationState.SENT:
        return None, True
    kept = row.receipt or told.receipt
    return Receipt(row.target, **kept), True


def _deliver(
    rt: Runtime,
    row: ProgressReport,
    notifier: Notifier,
    report: Report,
    target: dict[str, Any],
    previous: Receipt,
) -> bool:
    """One send; False when it is worth another try after a window."""
    try:
        receipt = notifier.send(report, target, previous)
    except PermanentError as exc:
        log.warning("progress of run %s to %s refused: %s", report.run_uuid, row.target, exc)
        return True
    except Exception as exc:
        if not isinstance(exc, notifier.transient_errors):
            log.exception("progress of run %s to %s failed", report.run_uuid, row.target)
        else:
            log.info("progress of run %s to %s failed: %s", report.run_uuid, row.target, exc)
        _put_off(rt.db, row, rt.settings.progress_report_interval)
        return False
    if receipt.external_id != previous.external_id:
        with rt.db.session() as session:
            session.execute(
                update(ProgressReport)
                .where(ProgressReport.run_id == row.run_id, ProgressReport.target == row.target)
                .values(receipt={"external_id": receipt.external_id, "data": receipt.data})
            )
    return True


def _put_off(db: Database, row: ProgressReport, seconds: float) -> None:
    """Due again after a window, unless a newer ask made it due sooner."""
    with db.session() as session:
        session.execute(
            update(ProgressReport)
            .where(
                ProgressReport.run_id == row.run_id,
                ProgressReport.target == row.target,
                ProgressReport.due_at.is_(None),
            )
            .values(due_at=utcnow() + timedelta(seconds=seconds))
        )


def overdue(session: Session, cutoff: datetime) -> list[tuple[int, datetime]]:
    """Runs with a progress send due before `cutoff`, each with when it fell due: the sweeper
    sends TASK again for those whose message was lost."""
    rows = session.execute(
        select(ProgressReport.run_id, ProgressReport.due_at)
        .where(ProgressReport.due_at < cutoff)
        .order_by(ProgressReport.due_at)
        .limit(500)
    ).all()
    found: dict[int, datetime] = {}
    for run_id, due_at in rows:
        if due_at is not None:
            found.setdefault(run_id, due_at)
    return list(found.items())


def mark_resent(session: Session, now: datetime, run_ids: list[int]) -> None:
    """What the sweeper sent again is due from now: the next sweep waits for a probe after it."""
    if run_ids:
        session.execute(
            update(ProgressReport)
            .where(ProgressReport.run_id.in_(run_ids), ProgressReport.due_at.is_not(None))
            .values(due_at=now)
        )
