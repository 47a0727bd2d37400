"""One try at telling one target of one status: what came of it, its budget, its log entry.

The only writer of a notification's state, and of the notification log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ci.connections import targets
from ci.connections.crypto import SecretsKeyError
from ci.reporting.run_hooks import Target
from ci.runtime import Runtime
from ci.store.db import Database, utcnow
from ci.store.models import Condition, Notification, NotificationAttempt
from notifiers.base import Notifier, PermanentError, Receipt, Report, TransientError
from schemas.status import NotificationState

log = logging.getLogger(__name__)
N = NotificationState
SETTLED: frozenset[NotificationState] = frozenset({N.SENT, N.SKIPPED, N.FAILED})
# A notification is born in any state; only a retrying one is tried again.
TRANSITIONS: dict[NotificationState, frozenset[NotificationState]] = {
    N.RETRYING: frozenset(NotificationState),
    **{state: frozenset() for state in SETTLED},
}
MAX_BACKOFF = 600.0
# GitHub's rate limit resets within the hour: a longer wait asked for is not waited.
MAX_RETRY_AFTER = 3600.0


class IllegalTransition(Exception):
    def __init__(self, row: Notification, state: NotificationState) -> None:
        super().__init__(
            f"notification of run {row.run_id}'s status {row.status} to {row.target}: "
            f"cannot go from {row.state} to {state}; it is settled"
        )
        self.current = N(row.state)
        self.state = state


@dataclass
class Work:
    """One target to tell of one status, or a hook's reason for telling it nothing."""

    target: Target
    notifier: Notifier | None = None
    previous: Receipt | None = None
    skipped: str = ""
    error: str = ""
    attempts: int = 0  # tries so far, and when the next is due, while it is retrying
    due: datetime | None = None


@dataclass
class _Outcome:
    """What one try at telling one target came to."""

    state: NotificationState
    reason: str = ""
    receipt: Receipt | None = None
    http_status: int | None = None
    wait: float | None = None  # retrying: seconds until the next try


def send(rt: Runtime, item: Work, report: Report, condition: Condition) -> float | None:
    """Tell one target of one status and record the try; the wait before the next try, if
    there is to be one."""
    if item.notifier is None:
        outcome = _Outcome(N.FAILED if item.error else N.SKIPPED, item.error or item.skipped)
    else:
        outcome = _try(rt, item, report)
    _record(rt.db, item, report, condition, outcome)
    return outcome.wait


def _try(rt: Runtime, item: Work, report: Report) -> _Outcome:
    assert item.notifier is not None
    name = item.target.name
    try:
        # A hook's target is named for its connection; a plain report target is a notifier's.
        connection = name if item.target.via != "report" else None
        config = targets.target_config(rt, report.project, connection, item.target.config)
    except SecretsKeyError as exc:
        return _Outcome(N.FAILED, str(exc))
    try:
        receipt = item.notifier.send(report, config, item.previous)
    except PermanentError as exc:
        # Retrying cannot help (bad token, unknown repo): keep the reason where users look.
        log.warning("report of run %s to %s refused: %s", report.run_uuid, name, exc)
        return _Outcome(N.FAILED, str(exc), http_status=exc.status_code)
    except Exception as exc:
        if isinstance(exc, (TransientError, *item.notifier.transient_errors)):
            why, retry_after = str(exc), getattr(exc, "retry_after", None)
        else:  # a notifier's own bug: retried like a target's failure, within the budget
            log.exception("report of run %s to %s failed", report.run_uuid, name)
            why, retry_after = f"unexpected {type(exc).__name__}; see the worker's log", None
        status_code = exc.status_code if isinstance(exc, TransientError) else None
        return _retry_or_give_up(rt, item, why, retry_after, status_code)
    skipped = str(receipt.data.get("skipped") or "")
    if skipped:
        return _Outcome(N.SKIPPED, skipped, http_status=receipt.status_code)
    return _Outcome(N.SENT, receipt=receipt, http_status=receipt.status_code)


def _retry_or_give_up(
    rt: Runtime, item: Work, why: str, retry_after: float | None, http_status: int | None
) -> _Outcome:
    tries = item.attempts + 1
    if tries >= rt.settings.notify_max_attempts:
        reason = f"gave up after {tries} attempts: {why}"
        log.warning("report to %s failed for good: %s", item.target.name, reason)
        return _Outcome(N.FAILED, reason, http_status=http_status)
    wait = retry_wait(rt.settings.notify_retry_seconds, tries, retry_after)
    return _Outcome(N.RETRYING, f"{why}; retry after {wait:.0f}s", None, http_status, wait)


def retry_wait(base: float, tries: int, retry_after: float | None = None) -> float:
    """As long as the target asked (up to an hour), else twice as long after each try."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    return min(base * 2 ** (tries - 1), MAX_BACKOFF)


def _record(
    db: Database, item: Work, report: Report, condition: Condition, outcome: _Outcome
) -> None:
    """Keep the try in the notification log and the notification's state on its row."""
    target, now = item.target, utcnow()
    with db.session() as session:
        row = session.scalar(
            select(Notification).where(
                Notification.run_id == condition.run_id,
                Notification.condition_id == condition.id,
                Notification.target == target.name,
            )
        )
        if row is None:
            row = Notification(
                run_id=condition.run_id, condition_id=condition.id, target=target.name
            )
            session.add(row)
        elif outcome.state not in TRANSITIONS[N(row.state)]:
            raise IllegalTransition(row, outcome.state)
        row.status, row.state, row.error = report.status, outcome.state, outcome.reason
        row.attempts, row.sent_at = item.attempts + 1, now
        row.next_attempt_at = (
            now + timedelta(seconds=outcome.wait) if outcome.wait is not None else None
        )
        receipt = outcome.receipt
        if receipt is not None:
            row.receipt = {"external_id": receipt.external_id, "data": receipt.data}
        session.add(
            NotificationAttempt(
                run_id=condition.run_id,
                condition_id=condition.id,
                target=target.name,
                notifier=target.notifier,
                via=target.via,
                status=report.status,
                state=outcome.state,
                http_status=outcome.http_status,
                reason=outcome.reason,
                receipt_id=receipt.external_id if receipt is not None else "",
                at=now,
            )
        )
