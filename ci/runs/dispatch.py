"""A received delivery becomes events, decisions and runs, in one transaction.

Only the candidates a SubscriptionIndex finds for an event are decided; the delivery's reason
counts the others and says why they were passed over. The index is the project's, compiled once
per process and kept while its subscriptions do not change (ci.runs.indexes); a matched
subscription's operation comes from it too. On PostgreSQL each run is one statement
(ci.runs.lifecycle `create_once`), and the decisions and the delivery's end another
(ci.intake.delivery_state.write_settled). A comment command's params override the
operation's; `/axon sweep` starts the operation's search with its budget (ci.runs.sweeps);
`/axon cancel` stops the pull request's runs instead of starting one, and `/axon approve` lets
those waiting for approval go (ci.runs.comment_commands). A matched subscription with
`concurrency` has its new run admitted to its group by ci.runs.groups.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

# The trigger's Decision shares its name with a table here, so it goes by its module.
import triggers.base
from ci.compile.patching import with_params
from ci.intake import delivery_state
from ci.runs import comment_commands, groups, indexes, lifecycle, sweeps
from ci.store.models import Delivery, Run, Source, Subscription, SubscriptionVersion
from schemas.errors import PayloadError
from schemas.event import Event, storable
from schemas.spec_io import is_template
from schemas.status import DeliveryStatus, RunStatus
from triggers import commands
from triggers.base import Check
from triggers.concurrency import Concurrency
from webhooks.registry import providers

log = logging.getLogger(__name__)
# Deliveries the scheduler writes for schedule slots carry this provider name.
SCHEDULE = "schedule"


@dataclass(frozen=True)
class Occasion:
    """What a new run is made for: an event of a delivery (its index there), on a runner;
    `context` is the event's, made once for its decisions and its runs."""

    delivery: Delivery
    event: Event
    index: int
    runner: str
    context: dict[str, Any]


@dataclass(frozen=True)
class Matched:
    """A matched subscription as the compiled copy holds it: what its new run is made of."""

    id: int
    name: str
    project_id: int
    operation: dict[str, Any]


@dataclass
class Acted:
    """What one matched decision did: the run it created and its status once admitted, and
    what the log adds to its checks."""

    run_id: int | None = None
    status: str = RunStatus.CREATED
    start: bool = False
    checks: list[Check] = field(default_factory=list)
    # The subscription was deleted since the version was read: no row to log against.
    gone: bool = False


def process_delivery(session: Session, delivery_id: int, runner: str = "local") -> list[int]:
    """Parse the delivery, decide its project's candidate subscriptions, create the runs.

    New runs go to `runner`, the one this deployment is configured with (`AXON_RUNNER`).

    Returns the ids of the runs to start now (a run its concurrency group holds back is not
    one). Safe to call twice: a delivery is processed once, and called again (its task's
    worker was lost while starting them) it returns the runs it made that are still `created`.
    """
    found = _locked(session, delivery_id)
    if found is None:
        return []
    delivery, project_id, version = found
    if delivery.status != DeliveryStatus.RECEIVED:
        return _unstarted(session, delivery_id)
    try:
        events, compiled = _events(session, delivery, project_id, version)
    except PayloadError as exc:
        _finish(delivery, DeliveryStatus.MALFORMED, str(exc))
        return []
    except LookupError as exc:
        _finish(delivery, DeliveryStatus.FAILED, str(exc))
        return []
    broken = [b.decision() for b in compiled.broken]
    acted: list[Acted] = []
    passed_over: list[str] = []
    logged: list[dict[str, Any]] = []
    for number, event in enumerate(events):
        lookup = compiled.index.lookup(event)
        if len(lookup.candidates) < lookup.total:
            passed_over.append(lookup.summary())
        decisions = [s.decide(event) for s in lookup.candidates] + broken
        policies = {s.id: s.concurrency for s in lookup.candidates}
        context = _context(event)
        for decided in decisions:
            done = Acted()
            if decided.matched:
                matched = _matched(session, project_id, compiled, decided)
                if matched is None:  # deleted since the version was read: no row to log against
                    continue
                occasion = Occasion(delivery, event, number, runner, context)
                done = _act(session, matched, policies[matched.id], occasion, decided)
                if done.gone:
                    continue
                acted.append(done)
            logged.append(_decision(delivery, number, context, decided, done))
    _finish(delivery, DeliveryStatus.PROCESSED, _summary(delivery, events, acted, passed_over))
    delivery_state.write_settled(session, delivery, logged)
    return [a.run_id for a in acted if a.start and a.run_id is not None]


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
    matched: Matched,
    policy: Concurrency | None,
    occasion: Occasion,
    decided: triggers.base.Decision,
) -> Acted:
    """Carry out a matched decision: cancel, or create a run and admit it to its group."""
    event = occasion.event
    if decided.command in ("cancel", "approve"):
        row = session.get(Subscription, matched.id)
        if row is None:
            return Acted(gone=True)
        carry_out = (
            comment_commands.cancel if decided.command == "cancel" else comment_commands.approve
        )
        return Acted(checks=carry_out(session, row, event))
    operation, params, checks = matched.operation, dict(decided.params), []
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
        head = comment_commands.pull_request_head(session, matched.project_id, event)
        if head is None:
            number = event.pull_request.number
            reason = f"Axon has seen no pull_request event of #{number}, so no commit to run"
            return Acted(checks=[*checks, Check("head", False, reason)])
        event, found = head
        occasion = replace(occasion, event=event, context=_context(event))
        checks.append(found)
    run_id = _create_run(session, matched, occasion, params, operation)
    if run_id is None:
        return Acted(checks=checks, gone=session.get(Subscription, matched.id) is None)
    if policy is None:
        return Acted(run_id, RunStatus.CREATED, True, checks)
    run = session.get_one(Run, run_id)
    admitted = groups.admit(session, policy, matched.name, event, run)
    return Acted(run_id, run.status, admitted.start, checks + admitted.checks)


# Built once: building it, and its cache key, cost a cold worker more than the round trip.
_LOCKED = (
    select(Delivery, Source.project_id, SubscriptionVersion.version)
    .outerjoin(Source, Source.id == Delivery.source_id)
    .outerjoin(SubscriptionVersion, SubscriptionVersion.project_id == Source.project_id)
    .where(Delivery.id == bindparam("delivery_id"))
    .with_for_update(of=Delivery)
    .execution_options(populate_existing=True)
)


def _locked(session: Session, delivery_id: int) -> tuple[Delivery, int | None, int | None] | None:
    """The delivery, locked; with its source's project and the version of that project's
    subscriptions, read in the same round trip."""
    found = session.execute(_LOCKED, {"delivery_id": delivery_id}).first()
    if found is None:
        return None
    delivery, project_id, version = found
    return delivery, project_id, version


def _unstarted(session: Session, delivery_id: int) -> list[int]:
    """The processed delivery's runs that no start has taken further: held ones (a concurrency
    group's turn, an approval) have left `created` or wait for something."""
    return list(
        session.scalars(
            select(Run.id)
            .where(Run.delivery_id == delivery_id, Run.status == RunStatus.CREATED)
            .where(Run.pending.is_(None))
            .order_by(Run.id)
        )
    )


def _events(
    session: Session, delivery: Delivery, project_id: int | None, version: int | None
) -> tuple[list[Event], indexes.Compiled]:
    """The delivery's events, and the subscriptions that decide them."""
    if delivery.provider == SCHEDULE:
        return _schedule_fire(session, delivery)
    if project_id is None:
        raise LookupError("the delivery's source was deleted")
    events = providers.get(delivery.provider).parse(delivery.headers, delivery.body)
    return events, indexes.current(session, project_id, version)


def _schedule_fire(session: Session, delivery: Delivery) -> tuple[list[Event], indexes.Compiled]:
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
    return [event], indexes.alone(subscription)


def _matched(
    session: Session,
    project_id: int | None,
    compiled: indexes.Compiled,
    decided: triggers.base.Decision,
) -> Matched | None:
    """The subscription of a matched decision, from the compiled copy; read from its row when
    the copy is not a project's (a schedule's slot: its row is in the session already)."""
    entry = compiled.entries.get(decided.subscription_id)
    if project_id is not None and entry is not None and entry.operation is not None:
        operation = json.loads(entry.operation)
        return Matched(decided.subscription_id, decided.subscription, project_id, operation)
    row = session.get(Subscription, decided.subscription_id)
    if row is None:
        return None
    return Matched(row.id, row.name, row.project_id, row.spec["operation"])


def _summary(
    delivery: Delivery, events: list[Event], acted: list[Acted], passed_over: list[str]
) -> str:
    if not events:
        return f"{delivery.event_name or 'the delivery'}: no event Axon acts on; nothing started"
    started = sum(a.start for a in acted)
    held = Counter(a.status for a in acted if a.run_id is not None and not a.start)
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


def _create_run(
    session: Session,
    subscription: Matched,
    occasion: Occasion,
    params: dict[str, Any],
    operation: dict[str, Any],
) -> int | None:
    """The id of the subscription's new run of the event, None if it has one already or is
    deleted; `operation` is the subscription's own, or a sweep's (its budget set)."""
    delivery, event = occasion.delivery, occasion.event
    context = occasion.context
    if params:
        context = {**context, "command": {"params": params}}
    event_key = f"{delivery.provider}:{delivery.dedupe_key}:{occasion.index}"[:160]
    values = {
        "project_id": subscription.project_id,
        "name": str(operation.get("name") or subscription.name),
        "kind": "job",
        "runner": occasion.runner,
        "subscription_id": subscription.id,
        "delivery_id": delivery.id,
        "event_key": event_key,
        "event": context,
        "spec": _with_params(operation, params),
    }
    message = f"{event.kind} {event.ref or ''}".strip()
    run_id = lifecycle.create_once(session, values, "EventMatched", message)
    if run_id is None:
        log.info("subscription %s already has a run for %s", subscription.id, event_key)
    return run_id


def _context(event: Event) -> dict[str, Any]:
    """`event.context()`, without first copying the raw payload that it leaves out."""
    return replace(event, raw={}).context()


def _with_params(operation: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The operation with a comment command's params in place of its own (same name)."""
    # Comment text is not a template: a value Jinja would change is read from the event.
    literal = {
        name: f"{{{{ event.command.params.{name} }}}}" if is_template(value) else value
        for name, value in params.items()
    }
    return with_params(operation, literal)


def _decision(
    delivery: Delivery,
    index: int,
    context: dict[str, Any],
    decided: triggers.base.Decision,
    acted: Acted,
) -> dict[str, Any]:
    """The decision's row, for `_DECISIONS`."""
    return {
        "delivery_id": delivery.id,
        "event_index": index,
        "event": context,
        "subscription_id": decided.subscription_id,
        "subscription_name": decided.subscription,
        "matched": decided.matched,
        "checks": [check.as_dict() for check in (*decided.checks, *acted.checks)],
        "run_id": acted.run_id,
    }
