"""What a runner observes, recorded as its runs' transitions when it is news.

On start the agent reconciles: a run the database places on the runner whose object the
runner no longer knows was deleted while nobody watched; it fails with reason `Missing` (a run
being stopped is stopped), as Polyaxon does. While a run runs, its logs are followed into the
database when the runner can follow them (`ci.agent.logs_follow`). A finished run's logs are
read from the runner before its row is locked: a slow read holds up neither the run's row nor
the other runs' transitions. A failure with retries left, on a runner that leaves retries to the
core, is recorded as `retrying` and the run is started again (`ci.runs.retries`).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ci.agent.logs_follow import MAX_LOG_CHARS
from ci.runs import lifecycle, retries
from ci.runtime import Runtime
from ci.store.models import Run
from runners.base import Observation, Runner
from schemas.status import DONE, ON_RUNNER, RunStatus

log = logging.getLogger(__name__)
S = RunStatus


def apply(rt: Runtime, runner: Runner, observation: Observation) -> bool:
    """Record `observation` as a transition if it is news; returns whether it was."""
    return bool(_apply(rt, runner, observation))


def _apply(rt: Runtime, runner: Runner, observation: Observation) -> bool | None:
    """As `apply`; None when no run has the observation's external id (yet)."""
    logs = None
    if observation.status in DONE:
        # Read before the row is locked: reading may take the runner a while.
        news = _is_news(rt, runner, observation)
        if not news:
            return news
        logs = runner.logs(observation.external_id)
    with rt.db.session() as session:
        run = session.scalar(
            select(Run)
            .where(Run.runner == runner.name, Run.external_id == observation.external_id)
            .with_for_update()
        )
        if run is None:
            return None
        if not _news_for(run, observation):
            return False
        if logs is not None:
            # A run deleted with its pods has nothing left to read: keep what was followed.
            logs = logs[-MAX_LOG_CHARS:]
            if logs or run.logs is None:
                # PostgreSQL text cannot hold NUL; a job may well print one.
                run.logs = logs.replace("\x00", "\ufffd")
        if retries.due(run, runner, observation):
            retries.retry(session, run, observation)
            return True
        lifecycle.transition(
            session,
            run,
            RunStatus(observation.status),
            observation.reason,
            observation.message,
            observation.at,
        )
        return True


def _is_news(rt: Runtime, runner: Runner, observation: Observation) -> bool | None:
    """Whether the observation would change its run now; None when no run has its id."""
    with rt.db.session() as session:
        run = session.scalar(
            select(Run).where(Run.runner == runner.name, Run.external_id == observation.external_id)
        )
        return None if run is None else _news_for(run, observation)


def _news_for(run: Run, observation: Observation) -> bool:
    if run.status == observation.status:
        return False
    if not lifecycle.can_transition(run.status, observation.status):
        # Observations can arrive late (a `running` after we recorded `stopping`).
        log.debug("run %s: ignoring %s while %s", run.uuid, observation.status, run.status)
        return False
    return True


def reconcile(rt: Runtime, runner: Runner) -> list[str]:
    """End the runs the database places on `runner` whose objects it no longer knows.

    Only for runners that can list what they hold (`known_ids()`). Returns the ids ended.
    """
    with rt.db.session() as session:
        believed = session.execute(
            select(Run.id, Run.external_id).where(
                Run.runner == runner.name,
                Run.status.in_(ON_RUNNER),
                Run.external_id.is_not(None),
            )
        ).all()
    if not believed:
        return []
    # Asked after the query: a run submitted meanwhile had its object before its id was stored.
    known = runner.known_ids()
    if known is None:  # this runner cannot list what it holds
        return []
    ended = []
    for run_id, external_id in believed:
        if external_id not in known and _end_missing(rt, runner, run_id, str(external_id)):
            ended.append(str(external_id))
    return ended


def _end_missing(rt: Runtime, runner: Runner, run_id: int, external_id: str) -> bool:
    with rt.db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in ON_RUNNER or run.external_id != external_id:
            return False  # it moved on while we looked
        gone = f"{external_id} is no longer on the {runner.name} runner"
        if run.status == S.STOPPING:
            lifecycle.transition(session, run, S.STOPPED, "Stopped", f"{gone}; it was stopped")
        else:
            message = f"{gone}: it was deleted while no agent was watching"
            lifecycle.transition(session, run, S.FAILED, "Missing", message)
        log.warning("run %s: %s", run.uuid, gone)
        return True
