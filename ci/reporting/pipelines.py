"""A pipeline is reported as one run: its ops are lines of its message, never reports of their own.

A dag's ops, a matrix's trials and a schedule's fired runs (runs with a parent) have no report
targets: the top of their tree (the run the event started, which has the subscription) has
them. Its report carries one line per op, and an op's change is told to the targets that edit
their message in place (a pull-request comment, a merge-request note, a check run, a bot's
Slack message) by an edit of the pipeline's one message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from ci.runs import trials
from ci.store.models import Condition, Run
from notifiers.base import OpLine
from schemas.status import RunStatus

# An op's line shows its first few outputs: a pipeline's message stays readable.
KEY_OUTPUTS = 3
# A tree deeper than this is a cycle in the data, not a pipeline: the walk up stops there.
MAX_DEPTH = 64
# An op's line needs none of its documents: a thousand ops' would weigh megabytes.
_LINE_ONLY = (defer(Run.spec), defer(Run.compiled), defer(Run.meta), defer(Run.event))
_NOT_SUCCEEDED = (
    RunStatus.FAILED,
    RunStatus.UPSTREAM_FAILED,
    RunStatus.STOPPED,
    RunStatus.SKIPPED,
    RunStatus.UNSCHEDULABLE,
    RunStatus.WARNING,
)


def top_of(session: Session, run_id: int) -> int:
    """The run at the top of `run_id`'s tree: the pipeline that reports for it (itself, for a
    run without a parent)."""
    top, seen = run_id, {run_id}
    for _ in range(MAX_DEPTH):
        parent = session.scalar(select(Run.parent_id).where(Run.id == top))
        if parent is None or parent in seen:
            break
        top = parent
        seen.add(parent)
    return top


@dataclass(frozen=True)
class Node:
    """One run of a tree below its top, with the path of op names that leads to it."""

    run: Run
    path: str


def tree(session: Session, top_id: int) -> list[int]:
    """The ids of `top_id` and every run below it, level by level."""
    ids, level = [top_id], [top_id]
    for _ in range(MAX_DEPTH):
        level = list(session.scalars(select(Run.id).where(Run.parent_id.in_(level))))
        if not level:
            break
        ids += level
    return ids


def descendants(session: Session, top_id: int) -> list[Node]:
    """Every run below `top_id`, depth first, each parent's children in the order made."""
    children: dict[int, list[Run]] = {}
    level = [top_id]
    for _ in range(MAX_DEPTH):
        found = list(
            session.scalars(
                select(Run).where(Run.parent_id.in_(level)).order_by(Run.id).options(*_LINE_ONLY)
            )
        )
        if not found:
            break
        for run in found:
            children.setdefault(run.parent_id or 0, []).append(run)
        level = [run.id for run in found]
    nodes: list[Node] = []

    def visit(parent_id: int, prefix: str) -> None:
        for run in children.get(parent_id, []):
            path = f"{prefix}{run.op_name or run.name}"
            nodes.append(Node(run, path))
            visit(run.id, f"{path} / ")

    visit(top_id, "")
    return nodes


def op_lines(session: Session, top_id: int, url: Callable[[str], str]) -> tuple[OpLine, ...]:
    """One line per run below `top_id`: name, status, duration, link, key outputs and, for an
    op that did not succeed, why."""
    nodes = descendants(session, top_id)
    why = _last_messages(
        session, [node.run.id for node in nodes if node.run.status in _NOT_SUCCEEDED]
    )
    return tuple(
        OpLine(
            name=node.path,
            status=RunStatus(node.run.status),
            url=url(node.run.uuid),
            duration=node.run.duration,
            outputs=dict(list((node.run.outputs or {}).items())[:KEY_OUTPUTS]),
            why=why.get(node.run.id, ""),
        )
        for node in nodes
    )


def best_line(session: Session, run: Run) -> str:
    """A search's best trial so far on one line (ci.runs.trials); empty for any other run."""
    if run.kind != "matrix":
        return ""
    found = trials.best(session, run.meta)
    return found.line() if found else ""


def _last_messages(session: Session, run_ids: Iterable[int]) -> dict[int, str]:
    """Each run's last condition's message (else its reason), on one line."""
    ids = list(run_ids)
    if not ids:
        return {}
    last = (
        select(func.max(Condition.id))
        .where(Condition.run_id.in_(ids))
        .group_by(Condition.run_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Condition.run_id, Condition.reason, Condition.message).where(Condition.id.in_(last))
    )
    return {run_id: " ".join((message or reason).split()) for run_id, reason, message in rows}


def status_before(session: Session, run_id: int, condition_id: int) -> Condition | None:
    """The condition `run_id` was in when condition `condition_id` (of another run) came."""
    return session.scalar(
        select(Condition)
        .where(Condition.run_id == run_id, Condition.id < condition_id)
        .order_by(Condition.id.desc())
        .limit(1)
    )
