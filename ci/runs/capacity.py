"""Queues with a concurrency limit: a run waits `queued` while its queue is full.

A runner that limits its queues overrides `has_capacity(queue)`. `ci.runs.launch` asks it before
each submit and leaves the run queued when the answer is no; when a run of that runner ends, the
reaction here sends the start of the oldest runs still queued behind it, and the sweeper sends
every queued run's start again later in case that message is lost.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from ci import runtime
from ci.runs import waking
from ci.store.models import Run
from runners.base import Runner
from runners.registry import runners
from schemas.status import DONE, RunStatus

log = logging.getLogger(__name__)
S = RunStatus
WAKE_PER_END = 3  # queued runs whose start one ending run sends: spares for stopped ones
LOOK_BEHIND = 500  # queued runs read to find those of the ended run's queue
_REMEMBERED = 10_000


def queue_of(compiled: dict[str, Any] | None) -> str | None:
    """The queue a compiled run names (None: the runner's default queue)."""
    compiled = compiled or {}
    named = compiled.get("queue") or (compiled.get("component") or {}).get("queue")
    return str(named) if named else None


def full(session: Session, runner: Runner, run: Run) -> str:
    """Why the run's queue cannot take it now, or '' when it can (or has no limit)."""
    queue = queue_of(run.compiled)
    if runner.queue_limited(queue):
        _serialize(session, runner.name)
    if runner.has_capacity(queue):
        return ""
    named = f"queue {queue!r}" if queue else "the default queue"
    return f"{named} is full: the run starts when one of its runs ends"


def _serialize(session: Session, runner_name: str) -> None:
    """Hold the runner's submission lock until the transaction ends.

    A check of capacity and the submit that follows it must not interleave with another
    worker's, or two runs take the last slot. SQLite writers are serialized already.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"axon.capacity:{runner_name}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class _Told:
    """Runs whose wait was logged, so a run re-sent every sweep is logged once."""

    def __init__(self) -> None:
        self.runs: OrderedDict[int, None] = OrderedDict()

    def first_time(self, run_id: int) -> bool:
        if run_id in self.runs:
            return False
        self.runs[run_id] = None
        while len(self.runs) > _REMEMBERED:
            self.runs.popitem(last=False)
        return True


_told = _Told()


def waiting(run: Run, reason: str) -> None:
    """Log, once per run and process, that the run waits for room in its queue."""
    if _told.first_time(run.id):
        log.info("run %s stays queued: %s", run.uuid, reason)


# A run's runner is chosen when it is created and never changes: each process keeps it per
# run, as ci.runs.waking keeps a run's controller, so that the end of a run whose runner has
# no queue limit costs nothing here.
_RUNNERS: OrderedDict[tuple[str, int], str] = OrderedDict()


def remember_runner(session: Session, run: Run) -> None:
    """Keep `run`'s runner, from a row already loaded."""
    if "runner" in inspect(run).unloaded or not waking.keeps(session):
        return
    _RUNNERS[(str(session.get_bind().engine.url), run.id)] = run.runner
    while len(_RUNNERS) > _REMEMBERED:
        _RUNNERS.popitem(last=False)


def wake_queued(run_id: int, status: RunStatus) -> None:
    """A run that ended frees a place in its queue: send the starts of the oldest waiting."""
    if status not in DONE:
        return
    runner = _RUNNERS.get((str(runtime.get().db.engine.url), run_id))
    if runner is not None and not _offers_capacity(runner):
        return
    try:
        waiting_ids = _next_in_queue(run_id)
    except Exception:  # the transition is committed; the sweeper sends these starts later
        log.warning("could not look for runs queued behind run %s", run_id, exc_info=True)
        return
    for waiting_id in waiting_ids:
        runtime.enqueue("axon.start_run", waiting_id)


def _next_in_queue(run_id: int) -> list[int]:
    """The oldest queued runs of the ended run's runner, those of its queue first."""
    with runtime.get().db.session() as session:
        ended = session.get(Run, run_id)
        if ended is None or not _offers_capacity(ended.runner):
            return []
        queue = queue_of(ended.compiled)
        rows = session.execute(
            select(Run.id, Run.compiled)
            .where(Run.runner == ended.runner, Run.status == S.QUEUED)
            .order_by(Run.id)
            .limit(LOOK_BEHIND)
        ).all()
    same_queue = [row.id for row in rows if queue_of(row.compiled) == queue]
    others = [row.id for row in rows if row.id not in same_queue]
    return (same_queue or others)[:WAKE_PER_END]


def _offers_capacity(runner_name: str) -> bool:
    try:
        kind = runtime.get().settings.runner_kind(runner_name)  # a named configuration's
        return runners.load(kind).limits_queues()
    except Exception:  # an unknown runner: its runs fail on submit and never queue
        return False
