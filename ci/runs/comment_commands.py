"""What a comment command does to the runs of the pull request it is on: `/axon cancel` stops
them, `/axon approve` lets those waiting for approval go; and, for a forge whose comments name
no commit, the pull request's head as Axon last saw it."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.runs import approval, groups
from ci.store.models import Decision, Run, Subscription
from schemas.event import Event
from schemas.status import DONE, RunStatus
from triggers.base import Check

# A run in these statuses is past stopping: `/axon cancel` leaves it alone.
PAST_STOPPING = [str(s) for s in (*DONE, RunStatus.STOPPING)]


def pull_request_head(
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


def cancel(session: Session, row: Subscription, event: Event) -> list[Check]:
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


def approve(session: Session, row: Subscription, event: Event) -> list[Check]:
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
