"""Build one Report per status change and hand it to every target that wants it, in order."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ci import comparison, hooks
from ci.db import Database, utcnow
from ci.hooks import Target
from ci.models import Condition, Notification, NotificationAttempt, Run
from ci.runtime import Runtime
from notifiers import http
from notifiers.base import Notifier, PermanentError, Receipt, Report, TransientError
from notifiers.registry import notifiers
from schemas.status import RunStatus

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)


def targets(rt: Runtime, run: Run) -> dict[str, dict[str, Any]]:
    """Where this run reports on every status its targets want: its subscription's `report`
    (less the named connections, which hear only hooks), else the forge it came from (when
    the event names a commit) and Slack (when a default webhook is set)."""
    spec = run.subscription.spec if run.subscription else {}
    if "report" in spec:
        named = hooks.named_connections(spec["report"])
        return {
            name: dict(config or {}) for name, config in spec["report"].items() if name not in named
        }
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
    When the target said how long to wait (Retry-After, GitHub's rate-limit reset), the lease
    stays taken for about that long, so the retry is the one that looks again: a newer
    status's task must not reach the target before it lets us.
    """
    while _lease(rt.db, run_id):
        hold = 0.0
        try:
            while _report_next(rt, run_id):
                pass
        except TransientError as exc:
            if exc.retry_after is not None:
                # A second short of the wait: the retry, due at the end of it, must find the
                # lease free even on a host whose clock runs a little behind.
                hold = min(exc.retry_after, LEASE.total_seconds()) - 1.0
            raise
        finally:
            until = utcnow() + timedelta(seconds=hold) if hold > 0 else None
            with rt.db.session() as session:
                session.execute(
                    update(Run).where(Run.id == run_id).values(report_lease_until=until)
                )
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
    """One target to tell of one status, or a hook's reason for telling it nothing."""

    target: Target
    notifier: Notifier | None = None
    previous: Receipt | None = None
    skipped: str = ""
    error: str = ""


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
    attempts: list[NotificationAttempt] = []
    try:
        for item in work:
            rows.append(_send(item, report, condition, attempts))
    finally:
        with rt.db.session() as session:
            session.add_all([*rows, *attempts])
            if len(rows) == len(work):
                session.execute(
                    update(Run).where(Run.id == run_id).values(report_cursor=condition.id)
                )
    return True


def _pending(
    rt: Runtime, session: Session, run: Run, condition: Condition, report: Report
) -> list[_Work]:
    """The subscription's targets that want this status, then what the run's hooks ask for;
    a target already told of this status (an earlier attempt got that far) is left out."""
    told = set(
        session.scalars(
            select(Notification.target).where(
                Notification.run_id == run.id, Notification.condition_id == condition.id
            )
        )
    )
    work: list[_Work] = []

    def add(item: _Work) -> None:
        if item.target.name in told:
            return
        told.add(item.target.name)
        if item.notifier is not None:
            item.previous = _last_receipt(session, run.id, item.target.name)
            if item.previous is None and item.notifier.receipt_scope == "pull_request":
                item.previous = _pull_request_receipt(session, run, item.target.name)
        work.append(item)

    for name, config in targets(rt, run).items():
        notifier = notifiers.get(name, **rt.settings.notifier_config(name))
        if report.status in notifier.wants:
            add(_Work(Target(name, name, config), notifier))
    for item in _hooked(rt, run, report):
        add(item)
    return work


def _hooked(rt: Runtime, run: Run, report: Report) -> Iterator[_Work]:
    """What the run's hooks and plugins.notifications ask for at this status, and why not."""
    report_spec = (run.subscription.spec if run.subscription else {}).get("report") or {}
    decided = hooks.decide(
        hooks.hooks_of(run.compiled),
        report.status,
        report_spec,
        notifiers.names(),
        hooks.context(report),
    )
    for decision in decided:
        target = decision.target
        if target is None or decision.skipped or decision.error:
            target = target or Target(decision.name, "", via=decision.hook.via)
            yield _Work(target, skipped=decision.skipped, error=decision.error)
            continue
        notifier = notifiers.get(target.notifier, **rt.settings.notifier_config(target.notifier))
        if report.status in notifier.wants:
            yield _Work(target, notifier)
        else:
            reason = f"{target.notifier} does not report {report.status}"
            yield _Work(target, skipped=f"{target.via}: {reason}")


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


def _send(
    item: _Work, report: Report, condition: Condition, attempts: list[NotificationAttempt]
) -> Notification:
    """Tell one target of one status; every attempt, whatever came of it, joins `attempts`.

    A TransientError propagates (after its attempt is logged) so that the task retries.
    """
    target = item.target
    row = Notification(
        run_id=condition.run_id,
        condition_id=condition.id,
        target=target.name,
        status=report.status,
        attempts=1,
    )
    attempt = NotificationAttempt(
        run_id=condition.run_id,
        condition_id=condition.id,
        target=target.name,
        notifier=target.notifier,
        via=target.via,
        status=report.status,
        reason="",
        receipt_id="",
        at=utcnow(),
    )
    attempts.append(attempt)
    if item.notifier is None:
        row.state = attempt.state = "failed" if item.error else "skipped"
        row.error = attempt.reason = item.error or item.skipped
        return row
    http.forget_status()
    try:
        receipt = item.notifier.send(report, target.config, item.previous)
    except TransientError as exc:
        attempt.state, attempt.http_status = "retrying", http.last_status()
        wait = f"; retry after {exc.retry_after:.0f}s" if exc.retry_after is not None else ""
        attempt.reason = f"{exc}{wait}"
        raise
    except PermanentError as exc:
        # Retrying cannot help (bad token, unknown repo): keep the reason where users look.
        row.state, row.error = "failed", str(exc)
        attempt.state, attempt.reason, attempt.http_status = "failed", str(exc), http.last_status()
        log.warning("report of run %s to %s refused: %s", report.run_uuid, row.target, exc)
        return row
    row.state = attempt.state = "sent"
    row.receipt = {"external_id": receipt.external_id, "data": receipt.data}
    attempt.receipt_id, attempt.http_status = receipt.external_id, http.last_status()
    return row
