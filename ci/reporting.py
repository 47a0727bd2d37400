"""Build one Report per status change and hand it to every target that wants it, in order."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ci import comparison
from ci.db import Database, utcnow
from ci.models import Condition, Notification, Run
from ci.runtime import Runtime
from notifiers.base import Notifier, PermanentError, Receipt, Report
from notifiers.registry import notifiers
from schemas.status import RunStatus

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)


def targets(rt: Runtime, run: Run) -> dict[str, dict[str, Any]]:
    """Where this run reports: its subscription's `report`, else the forge it came from
    (when the event names a commit) and Slack (when a default webhook is set)."""
    spec = run.subscription.spec if run.subscription else {}
    if "report" in spec:
        return {name: dict(config or {}) for name, config in spec["report"].items()}
    found: dict[str, dict[str, Any]] = {}
    provider = (run.event or {}).get("provider", "")
    if provider in notifiers and (run.event or {}).get("sha"):
        found[provider] = {}
    if rt.settings.slack_webhook_url:
        found["slack"] = {}
    return found


def build_report(rt: Runtime, run: Run, condition: Condition, session: Session) -> Report:
    event = run.event or {}
    pull = event.get("pull_request") or {}
    against = _against_base(rt, session, run, pull.get("base") or "")
    return Report(
        run_uuid=run.uuid,
        run_name=run.name,
        project=run.project.name,
        status=RunStatus(condition.status),
        reason=condition.reason,
        message=condition.message,
        url=rt.run_url(run.uuid),
        started_at=run.started_at,
        finished_at=run.finished_at if condition.status == run.status else None,
        duration=run.duration if condition.status == run.status else None,
        params=dict(run.inputs or {}),
        outputs=dict(run.outputs or {}),
        repo=event.get("repo", ""),
        sha=event.get("sha", ""),
        ref=event.get("ref", ""),
        branch=event.get("branch", ""),
        pull_request=pull.get("number"),
        subscription=run.subscription.name if run.subscription else "",
        **against,
    )


def _against_base(rt: Runtime, session: Session, run: Run, base_branch: str) -> dict[str, Any]:
    """For a pull request's run: its outputs beside the base branch's latest successful run."""
    if not base_branch or run.subscription is None:
        return {}
    base = comparison.baseline(session, run, base_branch)
    if base is None:
        return {"base_branch": base_branch}
    wanted = comparison.rules(run.subscription.spec.get("compare"))
    comparisons, regression = comparison.compare(run.outputs or {}, base.outputs or {}, wanted)
    return {
        "comparisons": comparisons,
        "base_branch": base_branch,
        "base_url": rt.run_url(base.uuid),
        "regression": regression,
    }


def _lease(db: Database, run_id: int) -> bool:
    now = utcnow()
    with db.session() as session:
        claimed = session.execute(
            update(Run)
            .where(Run.id == run_id)
            .where(or_(Run.report_lease_until.is_(None), Run.report_lease_until < now))
            .values(report_lease_until=now + LEASE)
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]


def report_run(rt: Runtime, run_id: int) -> None:
    """Send every condition not yet reported, oldest first, to every target that wants it.

    One reporter per run at a time (a lease on the run row), so a late `running` never
    reaches a target after `succeeded`. A call that finds the lease taken returns at once:
    the holder looks again after letting go, so nothing this call was for is left behind.
    A TransientError propagates after the progress so far is saved; the caller retries.
    """
    while _lease(rt.db, run_id):
        try:
            while _report_next(rt, run_id):
                pass
        finally:
            with rt.db.session() as session:
                session.execute(update(Run).where(Run.id == run_id).values(report_lease_until=None))
        if not _unreported(rt.db, run_id):
            return


def _unreported(db: Database, run_id: int) -> bool:
    with db.session() as session:
        newer = select(Condition.id).where(
            Condition.run_id == run_id, Condition.id > Run.report_cursor
        )
        return bool(session.scalar(select(Run.id).where(Run.id == run_id, newer.exists())))


@dataclass
class _Work:
    notifier: Notifier
    config: dict[str, Any]
    previous: Receipt | None


def _report_next(rt: Runtime, run_id: int) -> bool:
    """Report the oldest unreported condition; False when there is none left.

    Sending happens outside any transaction: a slow target must not hold database locks.
    """
    with rt.db.session() as session:
        run = session.get(Run, run_id)
        condition = (
            None
            if run is None
            else session.scalar(
                select(Condition)
                .where(Condition.run_id == run_id, Condition.id > run.report_cursor)
                .order_by(Condition.id)
                .limit(1)
            )
        )
        if run is None or condition is None:
            return False
        report = build_report(rt, run, condition, session)
        work = _pending(rt, session, run, condition, report)
    rows: list[Notification] = []
    try:
        for item in work:
            rows.append(_send(item, report, run_id, condition.id))
    finally:
        with rt.db.session() as session:
            session.add_all(rows)
            if len(rows) == len(work):
                session.execute(
                    update(Run).where(Run.id == run_id).values(report_cursor=condition.id)
                )
    return True


def _pending(
    rt: Runtime, session: Session, run: Run, condition: Condition, report: Report
) -> list[_Work]:
    sent = set(
        session.scalars(
            select(Notification.target).where(
                Notification.run_id == run.id, Notification.condition_id == condition.id
            )
        )
    )
    work = []
    for name, config in targets(rt, run).items():
        notifier = notifiers.get(name, **rt.settings.notifier_config(name))
        if report.status in notifier.wants and name not in sent:
            previous = _last_receipt(session, run.id, name)
            if previous is None and notifier.receipt_scope == "pull_request":
                previous = _pull_request_receipt(session, run, name)
            work.append(_Work(notifier, config, previous))
    return work


def _last_receipt(session: Session, run_id: int, target: str) -> Receipt | None:
    previous = session.scalar(
        select(Notification)
        .where(
            Notification.run_id == run_id,
            Notification.target == target,
            Notification.state == "sent",
        )
        .order_by(Notification.id.desc())
        .limit(1)
    )
    return Receipt(target, **previous.receipt) if previous else None


def _pull_request_receipt(session: Session, run: Run, target: str) -> Receipt | None:
    """The last receipt of an earlier run of this subscription on the same pull request."""
    number = ((run.event or {}).get("pull_request") or {}).get("number")
    if number is None or run.subscription_id is None:
        return None
    earlier = session.scalars(
        select(Notification)
        .join(Run, Run.id == Notification.run_id)
        .where(
            Run.subscription_id == run.subscription_id,
            Notification.target == target,
            Notification.state == "sent",
        )
        .order_by(Notification.id.desc())
        .limit(200)
    )
    for row in earlier:
        data = row.receipt.get("data") or {}
        if data.get("pull_request") == number and data.get("repo", "") in ("", run.event["repo"]):
            return Receipt(target, **row.receipt)
    return None


def _send(item: _Work, report: Report, run_id: int, condition_id: int) -> Notification:
    row = Notification(
        run_id=run_id,
        condition_id=condition_id,
        target=item.notifier.name,
        status=report.status,
        attempts=1,
    )
    try:
        receipt = item.notifier.send(report, item.config, item.previous)
        row.state = "sent"
        row.receipt = {"external_id": receipt.external_id, "data": receipt.data}
    except PermanentError as exc:
        # Retrying cannot help (bad token, unknown repo): keep the reason where users look.
        row.state, row.error = "failed", str(exc)
        log.warning("report of run %s to %s refused: %s", report.run_uuid, row.target, exc)
    return row
