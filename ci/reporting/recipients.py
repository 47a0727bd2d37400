"""Who hears of one status, and what: the targets that want it, each with the report it is to
get and the receipt of the message it edits, then what the run's hooks ask for."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.reporting import asking, attempts, building, pipelines, run_hooks
from ci.reporting.attempts import Work
from ci.reporting.run_hooks import Target
from ci.runtime import Runtime
from ci.store.models import Condition, Notification, Run
from notifiers.base import Receipt, Report
from notifiers.registry import notifiers


def targets(rt: Runtime, run: Run) -> dict[str, dict[str, Any]]:
    """Where this run reports on every status its targets want: its subscription's `report`
    (less the named connections, which hear only hooks), else the forge it came from (when
    the event names a commit) and Slack (when a default webhook is set). A pipeline's op
    has none of its own: it is a line of its pipeline's report (ci.reporting.pipelines)."""
    if run.parent_id is not None and run.subscription_id is None:
        return {}
    spec = run.subscription.spec if run.subscription else {}
    event = run.event or {}
    return asking.targets_of(rt, spec.get("report"), event.get("provider"), event.get("sha"))


def pending(
    rt: Runtime,
    session: Session,
    run: Run,
    condition: Condition,
    top: Run,
    tree: list[int],
    edits: frozenset[str],
    hooks: dict[str, Any] | None = None,
) -> list[tuple[Work, Report]]:
    """The targets that want this status, each with the report it is to get, then what the
    run's hooks ask for; a target this status has settled for (an earlier attempt got that
    far) is left out.

    A run's targets are its subscription's, and a pipeline's are told of its ops by edits of
    its one message (never by a new one: a target that has none, say a comment on a push,
    hears nothing of them): their receipts are looked for across the tree. An op's hooks report the
    op itself; one naming a pipeline's target is kept apart from it (`op:slack`), so neither
    edits the other's message.
    """
    rows = {
        row.target: row
        for row in session.scalars(
            select(Notification).where(
                Notification.run_id == run.id, Notification.condition_id == condition.id
            )
        )
    }
    report = building.report(rt, run, condition, session)
    told: set[str] = set()
    work: list[tuple[Work, Report]] = []

    def add(item: Work, told_report: Report, receipts_of: list[int], edit: bool = False) -> None:
        """Tell `item` (with `edit`: only if there is a message to edit)."""
        name = item.target.name
        row = rows.get(name)
        if name in told or (row is not None and row.state in attempts.SETTLED):
            return
        if row is not None:
            item.attempts, item.due = row.attempts, row.next_attempt_at
        if item.notifier is not None:
            item.previous = _last_receipt(session, receipts_of, name)
            if item.previous is None and item.notifier.receipt_scope == "pull_request":
                item.previous = _pull_request_receipt(session, top, name)
        if edit and item.previous is None:
            return
        told.add(name)
        work.append((item, told_report))

    pipeline_targets = targets(rt, top)
    if run.id == top.id:
        for name, config in pipeline_targets.items():
            notifier = notifiers.get(name, **rt.settings.notifier_config(name))
            if report.status in notifier.wants:
                add(Work(Target(name, name, config), notifier), report, tree)
        for item in _hooked(rt, hooks, report, top):
            add(item, report, tree)
        return work
    # A try that failed is tried again when due, even if a later step edits the message too:
    # skipping it would let the later one go before the target's wait is over.
    edits |= {name for name, row in rows.items() if row.state not in attempts.SETTLED}
    pipeline = _pipeline_report(rt, session, top, condition) if edits else None
    if pipeline is not None:
        for name, config in pipeline_targets.items():
            if name in edits:
                notifier = notifiers.get(name, **rt.settings.notifier_config(name))
                add(Work(Target(name, name, config), notifier), pipeline, tree, edit=True)
    for item in _hooked(rt, hooks, report, top):
        if item.target.name in pipeline_targets:
            item.target = replace(item.target, name=f"op:{item.target.name}")
        add(item, report, [run.id])
    return work


def _pipeline_report(
    rt: Runtime, session: Session, top: Run, condition: Condition
) -> Report | None:
    """The pipeline's report as an op's `condition` finds it: the pipeline's status then, and
    every op's line as it is now."""
    then = pipelines.status_before(session, top.id, condition.id)
    return None if then is None else building.report(rt, top, then, session)


def _hooked(rt: Runtime, hooks: dict[str, Any] | None, report: Report, top: Run) -> Iterator[Work]:
    """What the run's hooks and plugins.notifications (`hooks`, as asking.hooks reads them)
    ask for at this status, and why not; their connections are found in the subscription of
    the run's pipeline (`top`)."""
    if not hooks:
        return
    report_spec = (top.subscription.spec if top.subscription else {}).get("report") or {}
    decided = run_hooks.decide(
        run_hooks.hooks_of(hooks),
        report.status,
        report_spec,
        notifiers.names(),
        run_hooks.context(report),
    )
    for decision in decided:
        target = decision.target
        if target is None or decision.skipped or decision.error:
            target = target or Target(decision.name, "", via=decision.hook.via)
            yield Work(target, skipped=decision.skipped, error=decision.error)
            continue
        notifier = notifiers.get(target.notifier, **rt.settings.notifier_config(target.notifier))
        if report.status in notifier.wants:
            yield Work(target, notifier)
        else:
            reason = f"{target.notifier} does not report {report.status}"
            yield Work(target, skipped=f"{target.via}: {reason}")


def _last_receipt(session: Session, run_ids: list[int], target: str) -> Receipt | None:
    previous = session.scalar(
        select(Notification)
        .where(
            Notification.run_id.in_(run_ids),
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
