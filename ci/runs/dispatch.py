"""A received delivery becomes events, decisions and runs, in one transaction.

Only the candidates a SubscriptionIndex finds for an event are decided; the delivery's reason
counts the others and says why they were passed over. A comment command's params override the
operation's; `/axon sweep` starts the operation's search with its budget (ci.runs.sweeps);
`/axon cancel` stops the pull request's runs instead of starting one, and `/axon
approve` lets those waiting for approval go. A matched
subscription with `concurrency` has its new run admitted to its group by ci.runs.groups.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

# Both trigger classes share their names with tables here, so they go by their modules.
import triggers.base
import triggers.subscription
from ci.compile.patching import with_params
from ci.intake import delivery_state
from ci.runs import approval, groups, lifecycle, sweeps
from ci.store.models import Decision, Delivery, Run, Source, Subscription
from schemas.errors import PayloadError, SpecError, SpecErrors
from schemas.event import Event, storable
from schemas.spec_io import is_template
from schemas.status import DONE, DeliveryStatus, RunStatus
from triggers import commands
from triggers.base import Check
from triggers.concurrency import Concurrency
from triggers.index import SubscriptionIndex
from webhooks.registry import providers

log = logging.getLogger(__name__)
# Deliveries the scheduler writes for schedule slots carry this provider name.
SCHEDULE = "schedule"
# A run in these statuses is past stopping: `/axon cancel` leaves it alone.
PAST_STOPPING = [str(s) for s in (*DONE, RunStatus.STOPPING)]


@dataclass
class Acted:
    """What one matched decision did: the run it created, and what the log adds to its checks."""

    run: Run | None = None
    start: bool = False
    checks: list[Check] = field(default_factory=list)


def process_delivery(session: Session, delivery_id: int, runner: str = "local") -> list[int]:
    """Parse the delivery, decide its project's candidate subscriptions, create the runs.

    New runs go to `runner`, the one this deployment is configured with (`AXON_RUNNER`).

    Returns the ids of the runs to start now (a run its concurrency group holds back is not
    one). Safe to call twice: a delivery is processed once.
    """
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
        return []
    try:
        if delivery.provider == SCHEDULE:
            events, rows = _schedule_fire(session, delivery)
        else:
            events, rows = _webhook(session, delivery)
    except PayloadError as exc:
        _finish(delivery, DeliveryStatus.MALFORMED, str(exc))
        return []
    except LookupError as exc:
        _finish(delivery, DeliveryStatus.FAILED, str(exc))
        return []
    filters, broken = _filters(rows)
    index = SubscriptionIndex(filters)
    by_id = {row.id: row for row in rows}
    policies = {f.id: f.concurrency for f in filters}
    acted: list[Acted] = []
    passed_over: list[str] = []
    for number, event in enumerate(events):
        lookup = index.lookup(event)
        if len(lookup.candidates) < lookup.total:
            passed_over.append(lookup.summary())
        decisions = [s.decide(event) for s in lookup.candidates]
        for decided in decisions + [_broken(row, reason) for row, reason in broken]:
            row = by_id[decided.subscription_id]
            done = Acted()
            if decided.matched:
                done = _act(session, row, policies.get(row.id), delivery, event, number, decided)
                acted.append(done)
            session.add(_decision(delivery, number, event, decided, done))
    for done in acted:
        if done.run is not None:
            done.run.runner = runner
    _finish(delivery, DeliveryStatus.PROCESSED, _summary(delivery, events, acted, passed_over))
    session.flush()
    return [a.run.id for a in acted if a.start and a.run is not None]


def is_transient(exc: BaseException) -> bool:
    """Whether processing failed because the database was away, so that trying later helps."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def fail(session: Session, delivery_id: int, exc: BaseException) -> bool:
    """End a delivery whose processing raised `exc` as `failed`, with the reason; whether it
    did (not if it was processed meanwhile). Trying it again would only fail again."""
    delivery = session.get(Delivery, delivery_id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
        return False
    lines = str(exc).strip().splitlines()
    detail = f": {lines[0][:500]}" if lines else ""
    _finish(delivery, DeliveryStatus.FAILED, f"processing failed with {type(exc).__name__}{detail}")
    return True


def _act(
    session: Session,
    row: Subscription,
    policy: Concurrency | None,
    delivery: Delivery,
    event: Event,
    index: int,
    decided: triggers.base.Decision,
) -> Acted:
    """Carry out a matched decision: cancel, or create a run and admit it to its group."""
    if decided.command == "cancel":
        return Acted(checks=_cancel(session, row, event))
    if decided.command == "approve":
        return Acted(checks=_approve(session, row, event))
    operation, params, checks = row.spec["operation"], dict(decided.params), []
    if decided.command == "sweep":
        num_runs = params.pop(commands.NUM_RUNS, None)
        try:
            operation = sweeps.operation(operation, num_runs)
        except sweeps.NotASearch as exc:
            return Acted(checks=[Check("sweep", False, str(exc))])
        budget = f" with numRuns={num_runs}" if num_runs else ""
        kind = operation["matrix"].get("kind")
        checks.append(Check("sweep", True, f"a {kind} search{budget}"))
    if decided.command and not event.sha and event.pull_request is not None:
        # GitHub's PR comments name no commit (GitLab's do): run the pull request's last head.
        head = _pull_request_head(session, row.project_id, event)
        if head is None:
            number = event.pull_request.number
            reason = f"Axon has seen no pull_request event of #{number}, so no commit to run"
            return Acted(checks=[*checks, Check("head", False, reason)])
        event, found = head
        checks.append(found)
    run = _create_run(session, row, delivery, event, index, params, operation)
    if run is None:
        return Acted(checks=checks)
    if policy is None:
        return Acted(run, True, checks)
    admitted = groups.admit(session, policy, row.name, event, run)
    return Acted(run, admitted.start, checks + admitted.checks)


def _webhook(session: Session, delivery: Delivery) -> tuple[list[Event], list[Subscription]]:
    """A forge's delivery: its events, and every active subscription of the source's project."""
    source = session.get(Source, delivery.source_id) if delivery.source_id else None
    if source is None:
        raise LookupError("the delivery's source was deleted")
    events = providers.get(delivery.provider).parse(delivery.headers, delivery.body)
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.project_id == source.project_id, Subscription.paused.is_(False))
        .order_by(Subscription.id)
    )
    return events, list(rows)


def _schedule_fire(session: Session, delivery: Delivery) -> tuple[list[Event], list[Subscription]]:
    """A schedule's slot (written by ci.schedules.firing): one event, for its own subscription
    only."""
    try:
        fire = json.loads(delivery.body)
        subscription = session.get(Subscription, int(fire["subscription_id"]))
        fire_at = str(fire["fire_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PayloadError(f"schedule: unreadable fire record: {exc}") from exc
    if subscription is None:
        raise LookupError("the schedule's subscription was deleted")
    event = Event(
        kind="schedule",
        provider=SCHEDULE,
        scheduled_at=fire_at,
        message=f"schedule {fire.get('schedule', 0)} fired for {fire_at}",
        raw=fire,
    )
    return [event], [] if subscription.paused else [subscription]


def _summary(
    delivery: Delivery, events: list[Event], acted: list[Acted], passed_over: list[str]
) -> str:
    if not events:
        return f"{delivery.event_name or 'the delivery'}: no event Axon acts on; nothing started"
    started = sum(a.start for a in acted)
    held = Counter(a.run.status for a in acted if a.run is not None and not a.start)
    parts = [f"{len(events)} event(s), {started} run(s) started"]
    parts += [f"{count} {status}" for status, count in sorted(held.items())]
    text = ", ".join(parts)
    # The events of one delivery mostly pass over the same subscriptions: say so once.
    return "; ".join([text, *dict.fromkeys(passed_over)])


def _finish(delivery: Delivery, status: DeliveryStatus, reason: str) -> None:
    reason = storable(reason)  # an error may quote the payload's text
    # A redelivery keeps saying what it is a copy of.
    delivery_state.settle(
        delivery, status, f"{delivery.reason}: {reason}" if delivery.reason else reason
    )


def _filters(
    rows: list[Subscription],
) -> tuple[list[triggers.subscription.Subscription], list[tuple[Subscription, str]]]:
    filters, broken = [], []
    for row in rows:
        try:
            filters.append(triggers.subscription.compile_subscription(row.id, row.name, row.spec))
        except (SpecError, SpecErrors) as exc:
            # Stored subscriptions are validated, but a newer Axon may read them differently.
            broken.append((row, f"the subscription is invalid: {exc}"))
    return filters, broken


def _broken(row: Subscription, reason: str) -> triggers.base.Decision:
    return triggers.base.Decision(row.id, row.name, False, (Check("spec", False, reason),))


def _pull_request_head(
    session: Session, project_id: int, event: Event
) -> tuple[Event, Check] | None:
    """`event` at the head commit of its pull request, as the project's last decided
    pull_request event of it named it; None if there was none."""
    assert event.pull_request is not None
    number = event.pull_request.number
    found = session.execute(
        select(Decision.event, Decision.delivery_id)
        .join(Subscription, Decision.subscription_id == Subscription.id)
        .where(
            Subscription.project_id == project_id,
            Decision.event["kind"].as_string() == "pull_request",
            Decision.event["provider"].as_string() == event.provider,
            Decision.event["repo"].as_string() == event.repo,
            Decision.event["pull_request"]["number"].as_integer() == number,
        )
        .order_by(Decision.id.desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    head, delivery_id = found
    pull = head.get("pull_request") or {}
    at_head = replace(
        event,
        ref=str(head.get("ref") or ""),
        branch=str(head.get("branch") or ""),
        sha=str(head.get("sha") or ""),
        before=str(head.get("before") or ""),
        clone_url=str(head.get("clone_url") or event.clone_url),
        pull_request=replace(
            event.pull_request,
            base=str(pull.get("base") or ""),
            head=str(pull.get("head") or ""),
            fork=bool(pull.get("fork")),
        ),
    )
    reason = f"pull request #{number} is at {at_head.sha[:7]} (delivery {delivery_id})"
    return at_head, Check("head", True, reason)


def _cancel(session: Session, row: Subscription, event: Event) -> list[Check]:
    """`/axon cancel`: stop this subscription's runs of the pull request the comment is on.

    Only runs at the top of their tree: stopping a pipeline stops its ops with it."""
    number = event.pull_request.number if event.pull_request else 0
    runs = session.scalars(
        select(Run)
        .where(
            Run.subscription_id == row.id,
            Run.parent_id.is_(None),
            Run.status.not_in(PAST_STOPPING),
            Run.event["repo"].as_string() == event.repo,
            Run.event["pull_request"]["number"].as_integer() == number,
        )
        .order_by(Run.id)
        .with_for_update()
    )
    checks = []
    for run in runs:
        reason = f"cancelled run {run.id} of pull request #{number}, as {event.actor} asked"
        groups.stop(session, run, reason)
        checks.append(Check("cancel", True, reason))
    return checks or [Check("cancel", True, f"no run of pull request #{number} was in progress")]


def _approve(session: Session, row: Subscription, event: Event) -> list[Check]:
    """`/axon approve`: let this subscription's runs of the pull request that wait for
    approval go, the ops of its pipelines at any depth too (they carry no subscription of
    their own); the author was checked by the command's `associations` or `actors`."""
    number = event.pull_request.number if event.pull_request else 0
    tops = select(Run.id).where(
        Run.subscription_id == row.id,
        Run.event["repo"].as_string() == event.repo,
        Run.event["pull_request"]["number"].as_integer() == number,
    )
    subtree = tops.cte("approvable", recursive=True)
    subtree = subtree.union_all(select(Run.id).where(Run.parent_id == subtree.c.id))
    runs = session.scalars(
        select(Run)
        .where(
            Run.id.in_(select(subtree.c.id)),
            Run.pending == approval.APPROVAL,
            Run.status.not_in(PAST_STOPPING),
        )
        .order_by(Run.id)
        .with_for_update()
    )
    checks = []
    for run in runs:
        approval.approve(session, run, event.actor or "a comment")
        reason = f"approved run {run.id} of pull request #{number}, as {event.actor} asked"
        checks.append(Check("approve", True, reason))
    return checks or [Check("approve", True, f"no run of pull request #{number} awaits approval")]


def _create_run(
    session: Session,
    subscription: Subscription,
    delivery: Delivery,
    event: Event,
    index: int,
    params: dict[str, Any],
    operation: dict[str, Any] | None = None,
) -> Run | None:
    """The subscription's run of the event; `operation` in place of the subscription's own (a
    sweep's, its budget set)."""
    operation = subscription.spec["operation"] if operation is None else operation
    context = event.context()
    if params:
        context["command"] = {"params": params}
    run = Run(
        project_id=subscription.project_id,
        name=str(operation.get("name") or subscription.name),
        kind="job",
        subscription_id=subscription.id,
        delivery_id=delivery.id,
        event_key=f"{delivery.provider}:{delivery.dedupe_key}:{index}"[:160],
        event=context,
        spec=_with_params(operation, params),
    )
    try:
        with session.begin_nested():
            lifecycle.create(
                session, run, "EventMatched", f"{event.kind} {event.ref or ''}".strip()
            )
            session.flush()
    except IntegrityError:
        log.info("subscription %s already has a run for %s", subscription.id, run.event_key)
        return None
    return run


def _with_params(operation: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The operation with a comment command's params in place of its own (same name)."""
    # Comment text is not a template: a value Jinja would change is read from the event.
    literal = {
        name: f"{{{{ event.command.params.{name} }}}}" if is_template(value) else value
        for name, value in params.items()
    }
    return with_params(operation, literal)


def _decision(
    delivery: Delivery, index: int, event: Event, decided: triggers.base.Decision, acted: Acted
) -> Decision:
    return Decision(
        delivery_id=delivery.id,
        event_index=index,
        event=event.context(),
        subscription_id=decided.subscription_id,
        subscription_name=decided.subscription,
        matched=decided.matched,
        checks=[check.as_dict() for check in (*decided.checks, *acted.checks)],
        run_id=acted.run.id if acted.run else None,
    )
