"""The composition root: what a process is made of, put together in one place and one order.

Every entry point calls `wire(rt)` right after `runtime.init`: the app factory (and with it
`gunicorn wsgi:app` and `axon serve`), `axon worker`, `axon agent` and `axon scheduler`. No
other module registers a reaction or reaches for ci.tasks, so what runs after a status change,
and in which order, is read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from ci import tasks
from ci.runs import capacity, lifecycle
from ci.runtime import Runtime
from schemas.status import RunStatus

# Run after the transaction that moved a run commits, in this order: a run that ended first
# frees its queue place (the waiting run's start goes out before anything else), then the
# status is reported, then the run's concurrency group lets its next run take its turn, then
# a pipeline's controller (dag, matrix) looks at its children again.
REACTIONS: tuple[Callable[[int, RunStatus], None], ...] = (
    capacity.wake_queued,
    tasks.report_change,
    tasks.free_group,
    tasks.wake_pipeline,
)


def wire(rt: Runtime) -> Runtime:
    """Give `rt` its publisher and register the reactions; calling it again changes nothing."""
    rt.publish = tasks.publish
    for react in REACTIONS:
        if react not in lifecycle.reactions:
            lifecycle.reactions.append(react)
    return rt
