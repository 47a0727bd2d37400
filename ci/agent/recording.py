"""What a runner observes, recorded as its runs' transitions when it is news.

Everything observed in one turn of the watch, for many runs, is recorded in one transaction:
each run's row locked once and its statuses applied in the order seen (a run that starts, runs
and ends between two looks gets three transitions and one commit), with the reactions after
that commit. Should the transaction fail, each run's observations are recorded again in one of
its own, so that one run's bad news loses no other run's; the first failure is then raised.

On start the agent reconciles: a run the database places on the runner whose object the runner
no longer knows was deleted while nobody watched; it fails with reason `Missing` (a run being
stopped is stopped), as Polyaxon does. While a run runs, its logs are followed into the database
when the runner can follow them (`ci.agent.logs_follow`). A finished run's logs are read from
the runner before its row is locked (and kept whole in the artifacts store, as
`logs/attempt-<n>.log`, once its transition commits, as is the outputs directory the runner
reports, `ci.artifacts.collect`): a slow read holds up neither the run's row
nor the other runs' transitions. A failure with retries left, on a runner that leaves retries to
the core, is recorded as `retrying` and the run is started again (`ci.runs.retries`). Once a
run's end is recorded, with its logs, the runner is told it may let go of the run's objects
(`recorded`); an end seen again after that (an agent that starts again) tells it once more. A
transition is never timestamped before the one recorded before it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from ci.agent.logs_follow import MAX_LOG_CHARS
from ci.artifacts import collect, store
from ci.runs import lifecycle, retries
from ci.runtime import Runtime
from ci.store.db import after_commit
from ci.store.models import Condition, Run
from runners.base import Observation, Runner
from schemas.status import DONE, ON_RUNNER, RunStatus

log = logging.getLogger(__name__)
S = RunStatus
# Documents that neither a transition nor what its reactions keep of the row read: not loaded
# and parsed again for every run of every turn.
UNREAD = (defer(Run.spec), defer(Run.event), defer(Run.inputs), defer(Run.outputs))
# Finished runs' logs read side by side: each read is a wait on the runner (an API call).
LOG_READERS = 4


@dataclass
class _Turn:
    """One run's observations in a turn of the watch (their indexes, in order), and the logs
    read for those that end it."""

    external_id: str
    indexes: list[int] = field(default_factory=list)
    logs: dict[int, str] = field(default_factory=dict)


def apply(rt: Runtime, runner: Runner, observation: Observation) -> bool:
    """Record `observation` as a transition if it is news; returns whether it was."""
    return bool(record(rt, runner, [observation])[0])


def record(
    rt: Runtime,
    runner: Runner,
    observations: Sequence[Observation],
    let_go: Callable[[str], None] | None = None,
) -> list[bool | None]:
    """Record `observations`, of any number of runs, in one transaction, each run's in order.

    For each observation, whether it was news; None when no run has its external id (yet).
    A failure to record one run's leaves the others recorded and is raised afterwards. A run
    whose end is recorded is handed to `let_go` (by default, the runner is told at once).
    """
    results: list[bool | None] = [None] * len(observations)
    turns: dict[str, _Turn] = {}
    for index, observation in enumerate(observations):
        turns.setdefault(observation.external_id, _Turn(observation.external_id))
        turns[observation.external_id].indexes.append(index)
    errors = _read_logs(rt, runner, observations, list(turns.values()))
    ready = [turn for turn in turns.values() if turn.external_id not in errors]
    try:
        ended = _record(rt, runner, observations, ready, results) if ready else {}
    except Exception as exc:
        if len(ready) == 1:
            raise
        log.warning("recording %d runs together failed (%s); each alone now", len(ready), exc)
        ended = {}
        for turn in ready:
            try:
                ended.update(_record(rt, runner, observations, [turn], results))
            except Exception as alone:
                errors.setdefault(turn.external_id, alone)
    for external_id, status in ended.items():
        if any(
            observations[i].status in DONE and (results[i] or status in DONE)
            for i in turns[external_id].indexes
        ):
            # Recorded now, or before (by this agent, or one that stopped before it let go).
            collect.collect(rt, runner, external_id)  # at once if this agent stopped halfway
            if let_go is None:
                release(runner, external_id)
            else:
                let_go(external_id)
    if errors:
        raise next(iter(errors.values()))
    return results


def _read_logs(
    rt: Runtime, runner: Runner, observations: Sequence[Observation], turns: list[_Turn]
) -> dict[str, Exception]:
    """Read the logs of each run an observation ends, before any row is locked: reading may
    take the runner a while. Returns why a run's could not be read."""
    ending = [t for t in turns if any(observations[i].status in DONE for i in t.indexes)]
    if not ending:
        return {}
    with rt.db.single_statement() as conn:
        rows = conn.execute(
            select(Run.external_id, Run.status).where(
                Run.runner == runner.name, Run.external_id.in_([t.external_id for t in ending])
            )
        ).all()
    stored = {str(external_id): str(status) for external_id, status in rows}
    wanted: list[tuple[_Turn, int]] = []
    for turn in ending:
        status = stored.get(turn.external_id)
        for index in turn.indexes:
            observation = observations[index]
            if status is None or not _is_news(status, observation):
                continue
            if observation.status in DONE:
                wanted.append((turn, index))
            status = observation.status
    errors: dict[str, Exception] = {}

    def read(turn: _Turn, index: int) -> None:
        try:
            turn.logs[index] = runner.logs(turn.external_id)
        except Exception as exc:
            errors.setdefault(turn.external_id, exc)

    if len(wanted) == 1:
        read(*wanted[0])
    elif wanted:
        with ThreadPoolExecutor(min(len(wanted), LOG_READERS), "axon-read-logs") as pool:
            for turn, index in wanted:
                pool.submit(read, turn, index)
    return errors


def _record(
    rt: Runtime,
    runner: Runner,
    observations: Sequence[Observation],
    turns: list[_Turn],
    results: list[bool | None],
) -> dict[str, str]:
    """Record `turns` in one transaction, filling in `results`; each found run's status after."""
    # The latest transition's time comes with the locked row: one round trip, not two.
    latest = select(func.max(Condition.at)).where(Condition.run_id == Run.id).scalar_subquery()
    moved: dict[int, bool | None] = {}
    with rt.db.session() as session:
        rows = session.execute(
            select(Run, latest)
            .where(
                Run.runner == runner.name,
                Run.external_id.in_([turn.external_id for turn in turns]),
            )
            .order_by(Run.id)  # every batch locks in the same order: no deadlock between them
            .with_for_update(of=Run)
            .options(*UNREAD)
        ).all()
        found: dict[str, tuple[Run, datetime | None]] = {}
        for row in rows:
            found.setdefault(str(row[0].external_id), (row[0], row[1]))
        for turn in turns:
            if turn.external_id not in found:
                continue
            run, latest_at = found[turn.external_id]
            for index in turn.indexes:
                moved[index], latest_at = _move(
                    rt, session, runner, run, observations[index], turn.logs.get(index), latest_at
                )
    # Only once committed: a transaction that failed records nothing.
    for index, news in moved.items():
        results[index] = news
    return {external_id: str(run.status) for external_id, (run, _) in found.items()}


def _move(
    rt: Runtime,
    session: Session,
    runner: Runner,
    run: Run,
    observation: Observation,
    logs: str | None,
    last_at: datetime | None,
) -> tuple[bool | None, datetime | None]:
    """Apply one observation to its locked run: whether it was news, and the run's latest
    transition's time after it."""
    if run.external_id != observation.external_id:
        return None, last_at  # retried earlier in this turn: the next try has no id yet
    if not _is_news(run.status, observation):
        return False, last_at
    if logs:
        uuid, attempt, text = run.uuid, run.attempt, logs
        after_commit(session, lambda: keep_logs(rt, uuid, attempt, text))
    if observation.status in DONE:
        # The uuid now, as a retry moves the row on to its next attempt's id.
        ended, owner = observation.external_id, run.uuid
        after_commit(session, lambda: collect.collect(rt, runner, ended, owner))
    if logs is not None:
        # A run deleted with its pods has nothing left to read: keep what was followed.
        logs = logs[-MAX_LOG_CHARS:]
        if logs or run.logs is None:
            # PostgreSQL text cannot hold NUL; a job may well print one.
            run.logs = logs.replace("\x00", "\ufffd")
    if observation.outputs:  # what only the runner saw (a builder's image), before reactions
        run.outputs = {**(run.outputs or {}), **observation.outputs}
    if retries.due(run, runner, observation):
        retries.retry(session, run, observation)
        return True, _not_before(last_at, observation.at)
    condition = lifecycle.transition(
        session,
        run,
        RunStatus(observation.status),
        observation.reason,
        observation.message,
        _not_before(last_at, observation.at),
    )
    return True, condition.at


def _not_before(latest: datetime | None, at: datetime | None) -> datetime | None:
    """`at`, or the run's latest transition's time if `at` is earlier: a runner may see a run
    start before the worker that submitted it has recorded `scheduled`, and the history must
    read in the order it was recorded."""
    if at is None or latest is None:
        return at
    return latest if latest > at else at


def release(runner: Runner, external_id: str) -> None:
    """Tell the runner the run's end is recorded; a failure only delays the cleanup."""
    try:
        runner.recorded(external_id)
    except Exception:  # the object stays, and the next agent start lets go of it again
        log.warning("letting go of %s failed", external_id, exc_info=True)


def keep_logs(rt: Runtime, uuid: str, attempt: int, text: str) -> None:
    """A finished run's whole logs, kept in the artifacts store beside the database's tail;
    a store that fails loses this copy only."""
    try:
        store.for_settings(rt.settings).put_bytes(
            uuid, f"logs/attempt-{attempt}.log", text.encode(errors="replace")
        )
    except (OSError, store.ArtifactError) as exc:
        log.warning("logs of run %s were not kept in the artifacts store: %s", uuid, exc)


def _is_news(status: str, observation: Observation) -> bool:
    """Whether `observation` would move a run that is in `status` now."""
    if status == observation.status:
        return False
    if not lifecycle.can_transition(status, observation.status):
        # Observations can arrive late (a `running` after we recorded `stopping`).
        log.debug("%s: ignoring %s while %s", observation.external_id, observation.status, status)
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
