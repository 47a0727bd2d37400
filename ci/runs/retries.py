"""`termination.maxRetries` where the runner does not retry itself (the local runner).

A failure observed while retries are left becomes `retrying` ("attempt 2 of 3: <why>"): the run
counts the attempt, forgets the failed try's external id and is started again, which queues it
and submits it as a new try (`RunSpec.attempt`). A runner that retries itself (Kubernetes: the
Job's backoffLimit) reports `retrying` on its own and its failure is final. As on Kubernetes,
where the deadline covers every try, a run that exceeded its timeout is not retried.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ci import runtime
from ci.runs import lifecycle
from ci.store.db import after_commit
from ci.store.models import Run
from runners.base import Observation, Runner
from schemas.status import RunStatus

S = RunStatus
FINAL_REASONS = frozenset({"DeadlineExceeded"})


def max_retries(run: Run) -> int:
    return int((run.compiled or {}).get("max_retries") or 0)


def due(run: Run, runner: Runner, observation: Observation) -> bool:
    """Whether the core should retry `run` instead of recording `observation`'s failure."""
    return (
        observation.status == S.FAILED
        and not runner.retries_itself
        and observation.reason not in FINAL_REASONS
        and run.status != S.STOPPING
        and max_retries(run) > run.attempt
    )


def retry(session: Session, run: Run, observation: Observation) -> None:
    """Record the failed try as `retrying` and send the run's start again after commit."""
    why = observation.message or observation.reason or "failed"
    message = f"attempt {run.attempt + 2} of {max_retries(run) + 1}: {why}"
    lifecycle.transition(
        session, run, S.RETRYING, observation.reason or "Failed", message, observation.at
    )
    run.attempt += 1
    run.external_id = None
    run_id = run.id
    after_commit(session, lambda: runtime.enqueue("axon.start_run", run_id))


def waiting(run: Run) -> bool:
    """A run the core retries, between its failed try and its next submit."""
    return run.status == S.RETRYING and run.external_id is None
