"""The pipeline engine: a dag's ops and a matrix's trials as child runs, started when ready.

A compiled dag becomes a controller run (`kind: dag`, running, no runner): every op is created
at once as a child run (`op_name` unique per parent, so a re-sent task creates none twice),
each waiting (`pending: upstream`) until `advance` releases it. `advance` judges each waiting op
by its trigger policy and events (ci.runs.policies), releases those that may start within the
dag's concurrency, ends the others as upstream_failed or skipped with the reason, and ends the
controller by Polyaxon's rule once every child is done. A grid, random or mapping matrix is a
controller the same way (`kind: matrix`), its trials the children. Every step re-reads the
rows under the controller's lock: running it twice, or at once from two workers, changes
nothing more than running it once. The children are created by ci.runs.pipeline_children;
this module reads the controllers and advances them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session, defer

from ci import runtime
from ci.runs import lifecycle, metrics, policies, searches, waking
from ci.runs.policies import Decision, Verdict
from ci.runtime import Runtime
from ci.schedules import controller as schedule_controller
from ci.store.db import after_commit
from ci.store.models import Condition, Run
from schemas.status import DONE, RunStatus

log = logging.getLogger(__name__)
S = RunStatus
CONTROLLERS = ("dag", "matrix")
UPSTREAM = "upstream"  # `pending`: the engine has not released the child yet
LIVE_CONTROLLER = (S.RUNNING, S.STOPPING)
Stop = Callable[[Session, Run, str], list[int]]
Search = Callable[[Runtime, Session, Run, "Stop | None"], None]


# A controller's spec, compiled dag and graph are large (a 1,000-op dag's are megabytes); the
# engine reads its row without them, and its graph once per process: it never changes once the
# controller runs.
LIGHT = (defer(Run.spec), defer(Run.compiled), defer(Run.meta), defer(Run.event))
_GRAPHS: OrderedDict[str, dict[str, Any]] = OrderedDict()
_GRAPHS_KEPT = 256
# The same documents by (database, controller id), for a child that knows only its parent's id;
# only where ids never repeat (ci.runs.waking.keeps).
_BY_ID: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()


def load_controller(session: Session, run_id: int, lock: bool = False) -> Run | None:
    """The controller's row, without its large documents (loaded when asked for)."""
    return session.get(Run, run_id, with_for_update=lock, options=LIGHT)


def controller_meta(session: Session, run: Run) -> dict[str, Any]:
    """What `begin` stored on the controller: its graph, concurrency, earlyStopping, refs."""
    if "meta" not in inspect(run).unloaded:
        return run.meta or {}
    found = _GRAPHS.get(run.uuid)
    if found is None:
        found = session.scalar(select(Run.meta).where(Run.id == run.id)) or {}
        if "graph" in found:
            _GRAPHS[run.uuid] = found
            if waking.keeps(session):
                _BY_ID[(_database(session), run.id)] = found
            while len(_GRAPHS) > _GRAPHS_KEPT:
                _GRAPHS.popitem(last=False)
            while len(_BY_ID) > _GRAPHS_KEPT:
                _BY_ID.popitem(last=False)
    return found


def kept_meta(session: Session, run_id: int) -> dict[str, Any] | None:
    """The controller's `controller_meta` if this process keeps it, else None (nothing read)."""
    return _BY_ID.get((_database(session), run_id))


def _database(session: Session) -> str:
    return str(session.get_bind().engine.url)


# ---- advancing ---------------------------------------------------------------------------------


def advance(
    rt: Runtime,
    session: Session,
    parent_id: int,
    stop: Stop | None = None,
    search: Search | None = None,
) -> None:
    """Start the controller's ready children, decide those that can no longer start, and end
    the controller once every child is done. Safe to run twice, and at once.

    `stop(session, run, why)` stops a run with its live children (ci.runs.tree.stop) and
    returns the ids a runner must be told of: a dag's earlyStopping uses it. `search` steps a
    search controller (ci.runs.suggesting.advance); without it a search is left as it is.

    It begins by clearing the controller's ask (`advance_asked_at`) and committing: a child
    that ends while this step reads the children asks again, and is seen by the next step."""
    _clear_ask(session, parent_id)
    parent = load_controller(session, parent_id, lock=True)
    if parent is None or parent.status not in LIVE_CONTROLLER:
        return
    if parent.kind == schedule_controller.KIND:
        schedule_controller.advance(session, parent)
    elif parent.kind in CONTROLLERS and searches.is_search(controller_meta(session, parent)):
        if search is not None:  # ci.runs.suggesting, handed in: it builds on this module
            search(rt, session, parent, stop)
    elif parent.kind in CONTROLLERS:
        step(rt, session, parent, stop)


def step(rt: Runtime, session: Session, parent: Run, stop: Stop | None = None) -> None:
    """`advance`'s work on a controller whose lock the caller holds."""
    rows = list(
        session.execute(
            select(Run.id, Run.op_name, Run.status, Run.pending)
            .where(Run.parent_id == parent.id)
            .order_by(Run.id)
        )
    )
    statuses = {row.op_name: str(row.status) for row in rows}
    why = early_stop(session, parent, statuses) if stop is not None else None
    if stop is not None and why:
        to_tell = stop(session, parent, why)
        after_commit(session, lambda: _send_all("axon.stop_run", to_tell))
        if parent.status != S.STOPPING:
            return
        rows = [row for row in rows if statuses[row.op_name] not in DONE]
    if parent.status == S.STOPPING:
        _stop_waiting(session, [row.id for row in rows if row.pending == UPSTREAM], statuses)
    else:
        _release(session, parent, rows, statuses)
    ended = policies.pipeline_end(parent.status == S.STOPPING, statuses.values())
    if ended is not None:
        status, message = ended
        lifecycle.transition(session, parent, status, _END_REASONS[status], message)


_END_REASONS = {
    S.SUCCEEDED: "PipelineSucceeded",
    S.FAILED: "PipelineFailed",
    S.STOPPED: "PipelineStopped",
}


def _release(session: Session, parent: Run, rows: list[Any], statuses: dict[str, str]) -> None:
    meta = controller_meta(session, parent)
    graph: dict[str, dict[str, Any]] = meta.get("graph") or {}
    limit = meta.get("concurrency")
    live = sum(1 for row in rows if row.pending is None and row.status not in DONE)
    waiting = [row for row in rows if row.pending == UPSTREAM]
    reached = _reached(session, rows, [graph.get(row.op_name) for row in waiting])
    released: list[int] = []
    for row in waiting:
        verdict = _judge(graph.get(row.op_name), statuses, reached)
        if verdict.decision == Decision.WAIT:
            continue
        if verdict.decision == Decision.START:
            if limit and live >= limit:
                continue
            released.append(row.id)
            live += 1
            continue
        ended = S.SKIPPED if verdict.decision == Decision.SKIPPED else S.UPSTREAM_FAILED
        _end_waiting(session, row.id, ended, verdict.reason)
        statuses[row.op_name] = ended  # its downstream ops, later in order, see it at once
    if released:
        session.execute(update(Run).where(Run.id.in_(released)).values(pending=None))
        after_commit(session, lambda: _start_all(released))


def _judge(
    node: dict[str, Any] | None, statuses: dict[str, str], reached: dict[str, set[str]]
) -> Verdict:
    if node is None:  # a trial: nothing to wait for but its turn
        return Verdict(Decision.START)
    ups = {name: statuses[name] for name in node["up"] if name in statuses}
    verdict = policies.judge(node["trigger"], ups, node["skip"])
    if verdict.decision != Decision.START:
        return verdict
    for name, kinds in node["events"].items():
        seen = policies.judge_event(name, kinds, reached.get(name, set()), statuses.get(name, ""))
        if seen.decision != Decision.START:
            return seen
    return verdict


def _reached(
    session: Session, rows: list[Any], nodes: list[dict[str, Any] | None]
) -> dict[str, set[str]]:
    """Every status each watched op went through (an op may pass `running` between looks)."""
    watched = {name for node in nodes if node for name in node["events"]}
    if not watched:
        return {}
    ids = {row.id: row.op_name for row in rows if row.op_name in watched}
    found: dict[str, set[str]] = {}
    for run_id, status in session.execute(
        select(Condition.run_id, Condition.status).where(Condition.run_id.in_(ids))
    ):
        found.setdefault(ids[run_id], set()).add(status)
    return found


def _end_waiting(session: Session, run_id: int, status: RunStatus, reason: str) -> None:
    child = session.get(Run, run_id, with_for_update=True)
    if child is None or not lifecycle.can_transition(child.status, status):
        return
    child.pending = None
    why = "UpstreamSkipped" if status == S.SKIPPED else "UpstreamFailed"
    lifecycle.transition(session, child, status, why, reason)


def _stop_waiting(session: Session, ids: list[int], statuses: dict[str, str]) -> None:
    """A stopping controller's children that never started end stopped, not waiting forever."""
    for run_id in ids:
        child = session.get(Run, run_id, with_for_update=True)
        if child is None or not lifecycle.can_transition(child.status, S.STOPPED):
            continue
        child.pending = None
        lifecycle.transition(session, child, S.STOPPED, "PipelineStopping", "before it started")
        statuses[str(child.op_name)] = S.STOPPED


# Released ops are started this many to a task and transaction (ci.runs.launch.start_runs):
# a fan-out pays its locks, reads and commit once per batch, and the worker processes share
# the batches. An op's end cannot be recorded before its batch commits, so a larger batch
# delays the agent: at 8 the fan-in's p99 went over 250 ms, at 4 it stayed near 140 ms.
START_BATCH = 4


def _start_all(run_ids: list[int]) -> None:
    if len(run_ids) == 1:
        runtime.enqueue("axon.start_run", run_ids[0])
        return
    for first in range(0, len(run_ids), START_BATCH):
        runtime.enqueue("axon.start_runs", run_ids[first : first + START_BATCH])


def _send_all(task_name: str, run_ids: list[int]) -> None:
    for run_id in run_ids:
        runtime.enqueue(task_name, run_id)


def early_stop(session: Session, parent: Run, statuses: dict[str, str]) -> str | None:
    """Why the controller's `earlyStopping` stops it now (ci.runs.policies.early_stop), or None."""
    rules = controller_meta(session, parent).get("early_stopping") or []
    if not rules or parent.status != S.RUNNING or not statuses:
        return None
    children: list[Any] = []
    if any(rule.get("kind") == "metric_early_stopping" for rule in rules):
        query = select(Run.id, Run.op_name, Run.outputs).where(Run.parent_id == parent.id)
        children = list(session.execute(query))
    for rule in rules:
        outputs = {str(child.op_name): dict(child.outputs or {}) for child in children}
        if rule.get("kind") == "metric_early_stopping":
            # An op that reported the metric with steps reached the value if any step did.
            maximize = rule.get("optimization", "maximize") == "maximize"
            ids = [child.id for child in children]
            best = metrics.best_values(session, ids, rule["metric"], maximize)
            for child in children:
                if child.id in best:
                    outputs[str(child.op_name)][rule["metric"]] = best[child.id]
        why = policies.early_stop([rule], statuses, outputs)
        if why:
            return why
    return None


def _clear_ask(session: Session, parent_id: int) -> None:
    session.execute(
        update(Run)
        .where(Run.id == parent_id, Run.advance_asked_at.is_not(None))
        .values(advance_asked_at=None, updated_at=Run.updated_at)
        .execution_options(synchronize_session=False)
    )
    session.commit()
