"""The composition root: what a process is made of, put together in one place and one order.

Every entry point calls `wire(rt)` right after `runtime.init`: the app factory (and with it
`gunicorn wsgi:app` and `axon serve`), `axon worker`, `axon agent` and `axon scheduler`. No
other module registers a reaction or reaches for ci.tasks, so what runs after a status change,
and in which order, is read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from ci import tasks
from ci.reporting import asking
from ci.runs import capacity, groups, lifecycle, quotas, waking
from ci.runtime import Runtime
from schemas.status import RunStatus

# Run after the transaction that moved a run commits, in this order: a run that ended first
# frees its queue place (the waiting run's start goes out before anything else), then the
# status is reported, then the run's concurrency group lets its next run take its turn, then
# a pipeline's controller (dag, matrix) looks at its children again.
REACTIONS: tuple[Callable[[int, RunStatus], None], ...] = (
    capacity.wake_queued,
    quotas.wake_waiting,
    tasks.report_change,
    tasks.free_group,
    tasks.wake_pipeline,
)
# A report pass reads every status its run has not reported: one ask per run and transaction;
# a quota's room is looked at once a run has ended, which is its last move.
ONCE_PER_RUN = frozenset({tasks.report_change, quotas.wake_waiting})
# ... and asked for every run of a transaction in one go (a batch of a dag's op starts, the
# ends the agent records in one turn).
FOR_MANY = {
    tasks.report_change: tasks.report_changes,
    quotas.wake_waiting: quotas.wake_waiting_many,
}
# What those reactions read of a run's row, kept from the row its transition holds.
REMEMBERING = (
    capacity.remember_runner,
    waking.remember_wake,
    asking.remember,
    groups.remember_group,
)


def wire(rt: Runtime) -> Runtime:
    """Give `rt` its publisher and register the reactions; calling it again changes nothing."""
    rt.publish = tasks.publish
    for react in REACTIONS:
        if react not in lifecycle.reactions:
            lifecycle.reactions.append(react)
    lifecycle.once_per_run.update(ONCE_PER_RUN)
    lifecycle.for_many.update(FOR_MANY)
    for remember in REMEMBERING:
        if remember not in lifecycle.remembering:
            lifecycle.remembering.append(remember)
    return rt
