"""Celery tasks: each takes ids, re-reads the world, and is safe to run twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy.exc import OperationalError

from ci import dispatch, groups, launch, lifecycle, reporting, runtime
from ci.db import after_commit
from ci.runtime import celery
from notifiers.base import TransientError
from runners.base import RunnerUnavailable
from schemas.status import RunStatus

log = logging.getLogger(__name__)
MAX_BACKOFF = 600


def enqueue(task: Task, *args: Any, **options: Any) -> None:
    """Publish `task`; if the broker is down, log it: the sweeper sends it again later."""
    try:
        task.apply_async(args, **options)
    except Exception as exc:  # kombu raises many kinds; none may lose the caller's work
        log.warning("could not enqueue %s%s, the sweeper will: %s", task.name, args, exc)


def backoff(retries: int, base: float = 1.0) -> float:
    return float(min(MAX_BACKOFF, base * 2**retries))


@celery.task(name="axon.process_delivery", bind=True, acks_late=True, max_retries=None)
def process_delivery(self: Task, delivery_id: int) -> None:
    rt = runtime.get()
    try:
        with rt.db.session() as session:
            run_ids = dispatch.process_delivery(session, delivery_id, rt.settings.runner)
            after_commit(session, lambda: _start_all(run_ids))
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


def _start_all(run_ids: list[int]) -> None:
    for run_id in run_ids:
        enqueue(start_run, run_id)


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


@celery.task(name="axon.stop_run", bind=True, acks_late=True, max_retries=None)
def stop_run(self: Task, run_id: int) -> None:
    _with_runner(self, launch.stop_run, run_id)


@celery.task(name="axon.start_next_in_group", bind=True, acks_late=True, max_retries=None)
def start_next_in_group(self: Task, run_id: int) -> None:
    _with_runner(self, groups.advance, run_id)


@celery.task(name="axon.report_run", bind=True, acks_late=True, max_retries=None)
def report_run(self: Task, run_id: int) -> None:
    try:
        reporting.report_run(runtime.get(), run_id)
    except TransientError as exc:
        wait = exc.retry_after if exc.retry_after is not None else backoff(self.request.retries)
        log.info("report of run %s will be retried in %.0fs: %s", run_id, wait, exc)
        raise self.retry(exc=exc, countdown=min(wait, MAX_BACKOFF)) from exc


def _react(run_id: int, status: RunStatus) -> None:
    enqueue(report_run, run_id)


def _free_group(run_id: int, status: RunStatus) -> None:
    if groups.frees_a_group(status):
        enqueue(start_next_in_group, run_id)


lifecycle.reactions.append(_react)
lifecycle.reactions.append(_free_group)
