"""Celery tasks: each takes ids, re-reads the world, and is safe to run twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.signals import worker_init
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ci import runtime
from ci.agent import probes
from ci.reporting import asking, credentials, progress, reports
from ci.runs import dispatch, groups, launch, pipelines, suggesting, tree, waking
from ci.runtime import celery
from runners.base import RunnerUnavailable
from schemas.status import RunStatus

log = logging.getLogger(__name__)
MAX_BACKOFF = 600


def publish(task_name: str, *args: Any, **options: Any) -> bool:
    """Publish the task called `task_name`; if the broker is down, log it (the caller's outbox
    or the sweeper sends it again later) and return False. ci.wiring makes this the runtime's
    publisher."""
    task = celery.tasks[task_name]  # an unknown name is a bug, not an outage: it raises
    try:
        task.apply_async(args, **options)
    except Exception as exc:  # kombu raises many kinds; none may lose the caller's work
        log.warning("could not enqueue %s%s; it is sent again later: %s", task_name, args, exc)
        return False
    return True


def backoff(retries: int, base: float = 1.0) -> float:
    return float(min(MAX_BACKOFF, base * 2**retries))


@celery.task(name="axon.process_delivery", bind=True, acks_late=True, max_retries=None)
def process_delivery(self: Task, delivery_id: int) -> None:
    """Make the delivery's runs, then start them (`_start_here`)."""
    retry = _process(runtime.get(), delivery_id)
    if retry is not None:
        raise self.retry(exc=retry, countdown=backoff(self.request.retries)) from retry


@celery.task(name="axon.process_deliveries", acks_late=True)
def process_deliveries(delivery_ids: list[int]) -> None:
    """The outbox relay's message: several deliveries, each processed as `process_delivery`
    does. One that must be tried again (its database away, a transient error) goes on to a
    `process_delivery` task of its own, which retries it, and holds back none of the others."""
    rt = runtime.get()
    for delivery_id in delivery_ids:
        try:
            retry: Exception | None = _process(rt, delivery_id)
        except Exception as exc:
            log.exception("delivery %s failed; its own task tries it again", delivery_id)
            retry = exc
        if retry is not None:
            runtime.enqueue(process_delivery.name, delivery_id, countdown=backoff(0))


def _process(rt: runtime.Runtime, delivery_id: int) -> Exception | None:
    """Process a delivery and start its first run; the error to try it again on, if any.

    An error that would come back on every try ends the delivery, with the reason."""
    try:
        with rt.db.session() as session:
            run_ids = dispatch.process_delivery(session, delivery_id, rt.settings.runner)
    except OperationalError as exc:
        return exc
    except Exception as exc:
        if dispatch.is_transient(exc):
            return exc
        log.exception("delivery %s cannot be processed", delivery_id)
        with rt.db.session() as session:
            dispatch.fail(session, delivery_id, exc)
        return None
    _start_here(rt, run_ids)
    return None


def _start_here(rt: runtime.Runtime, run_ids: list[int]) -> None:
    """Start the first run in this task, saving a message's trip through the broker; the
    others go to start tasks, published first so that other workers take them meanwhile.

    A worker lost before the start commits leaves the run `created` and this task's message
    unacknowledged: the broker hands it out again, and the delivery's task, processed already,
    finds the run and starts it. A runner or database out of reach hands the start to
    axon.start_run, which retries it until it is back."""
    if not run_ids:
        return
    first, *others = run_ids
    _start_all(others)
    try:
        with rt.db.session() as session:
            launch.start_run(rt, session, first)
    except (RunnerUnavailable, OperationalError) as exc:
        log.warning("could not start run %s now; its start task retries it: %s", first, exc)
        runtime.enqueue(start_run.name, first, countdown=backoff(0))


def _start_all(run_ids: list[int]) -> None:
    for run_id in run_ids:
        runtime.enqueue(start_run.name, run_id)


def _with_runner(task: Task, action: Callable[..., None], run_id: int) -> None:
    """Run a launch step; an unreachable runner or database means: try again later."""
    rt = runtime.get()
    try:
        with rt.db.session() as session:
            action(rt, session, run_id)
    except (RunnerUnavailable, OperationalError) as exc:
        raise task.retry(exc=exc, countdown=backoff(task.request.retries)) from exc


@celery.task(name="axon.start_run", bind=True, acks_late=True, max_retries=None)
def start_run(self: Task, run_id: int) -> None:
    _with_runner(self, launch.start_run, run_id)


@celery.task(name="axon.start_runs", bind=True, acks_late=True, max_retries=None)
def start_runs(self: Task, run_ids: list[int]) -> None:
    """Start a dag's ops released together in one transaction (launch.start_runs)."""
    rt = runtime.get()
    try:
        with rt.db.session() as session:
            launch.start_runs(rt, session, run_ids)
    except (RunnerUnavailable, OperationalError) as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    except Exception:
        # Nothing of the batch was committed: each run is started on its own, so that one
        # run's error holds back no other.
        log.warning("could not start runs %s together; starting each alone", run_ids, exc_info=True)
        _start_all(run_ids)


@celery.task(name="axon.stop_run", bind=True, acks_late=True, max_retries=None)
def stop_run(self: Task, run_id: int) -> None:
    _with_runner(self, launch.stop_run, run_id)


@celery.task(name="axon.start_next_in_group", bind=True, acks_late=True, max_retries=None)
def start_next_in_group(self: Task, run_id: int) -> None:
    _with_runner(self, groups.advance, run_id)


@celery.task(name="axon.advance_pipeline", bind=True, acks_late=True, max_retries=None)
def advance_pipeline(self: Task, run_id: int) -> None:
    """Start a dag's or matrix's ready children, and end it once they are all done."""
    _with_runner(self, _advance_pipeline, run_id)


def _advance_pipeline(rt: runtime.Runtime, session: Session, run_id: int) -> None:
    # The stop cascade is ci.runs.tree's; the engine is handed it, for earlyStopping, and a
    # search's steps (ci.runs.suggesting builds on the engine).
    pipelines.advance(rt, session, run_id, stop=tree.stop, search=suggesting.advance)


@celery.task(name="axon.report_run", bind=True, acks_late=True, max_retries=None)
def report_run(self: Task, run_id: int) -> None:
    """Report what the run's targets have not heard yet; each target's retries are counted in
    the database (reporting), and each failed try sends this task again for when it is due."""
    try:
        waits = reports.report_run(runtime.get(), run_id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    for wait in waits:
        runtime.enqueue(report_run.name, run_id, countdown=wait)


@celery.task(name=progress.TASK, bind=True, acks_late=True, max_retries=None)
def report_progress(self: Task, run_id: int) -> None:
    """Send a running run's latest progress to the targets whose send is due (reporting);
    a send put off (the run's status being reported, a target failing) comes back when due."""
    try:
        wait = progress.send(runtime.get(), run_id)
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    if wait is not None:
        runtime.enqueue(report_progress.name, run_id, countdown=wait)


@celery.task(name="axon.probe", acks_late=True)
def probe(probe_id: int) -> None:
    """The sweeper's probe came through the queue, and with it all that was sent before."""
    probes.seen(runtime.get().db, probe_id)


def report_change(run_id: int, status: RunStatus) -> None:
    """Every status a run reaches is reported (ci.wiring registers this reaction): one pass of
    its tree is asked for until it begins, and none when nobody is to hear of it."""
    try:
        top_id = asking.ask(runtime.get(), run_id)
    except Exception:  # the sweeper finds the status nobody has reported
        log.warning("could not ask for run %s's report", run_id, exc_info=True)
        return
    if top_id is not None:
        runtime.enqueue(report_run.name, top_id)


def report_changes(moves: list[tuple[int, RunStatus]]) -> None:
    """`report_change` for every run one transaction moved (ci.wiring): the statuses nobody is
    to hear of settled in one statement, and one pass asked for per tree."""
    try:
        top_ids = asking.ask_many(runtime.get(), [run_id for run_id, _ in moves])
    except Exception:  # the sweeper finds the statuses nobody has reported
        log.warning("could not ask for runs %s' reports", [m[0] for m in moves], exc_info=True)
        return
    for top_id in top_ids:
        runtime.enqueue(report_run.name, top_id)


def free_group(run_id: int, status: RunStatus) -> None:
    """A run that ends may free its concurrency group: a run in none frees nothing."""
    if not groups.frees_a_group(status):
        return
    try:
        grouped = groups.in_a_group(runtime.get().db, run_id)
    except Exception:  # the sweeper finds a group whose turn is overdue
        log.warning("could not read run %s's concurrency group", run_id, exc_info=True)
        return
    if grouped:
        runtime.enqueue(start_next_in_group.name, run_id)


def wake_pipeline(run_id: int, status: RunStatus) -> None:
    """A child that ends, or enters a status a sibling's `events` watch, moves its controller."""
    # Asked for once until it begins (waking.ask_advance): a fan-in's ends publish a few
    # advances, not one each.
    try:
        parent_id = waking.wake(runtime.get().db, run_id, status)
    except Exception:  # the sweeper re-sends the advance of a running controller
        log.warning("could not read run %s's pipeline", run_id, exc_info=True)
        return
    if parent_id is not None:
        runtime.enqueue(advance_pipeline.name, parent_id)


@worker_init.connect
def _warn_of_missing_credentials(**_: Any) -> None:
    try:
        rt = runtime.get()
        credentials.warn_of_missing_credentials(rt)
        # A forking worker's children must not share the connection this used.
        rt.db.dispose()
    except Exception:  # a warning must never keep the worker from starting
        log.warning("could not check the report targets' credentials", exc_info=True)
