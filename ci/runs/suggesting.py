"""A search's steps: its trials, each asked of `ci.optimize.suggest` as results come in.

A search (ci.runs.searches) is a controller (`kind: matrix`, running, no runner) keeping its
matrix section and seed in its meta. Each advance, under the controller's lock, reads the
trials' rows, makes them the observations (params from `meta["params"]`, the metric's value,
the status), asks `suggest` for as many params as there are free concurrency slots, and creates
and starts those trials in the same transaction: a second advance, at once or after a crash,
reads the trials the first one made and so never makes one twice (uq_runs_op guards the rest).
The seed is the matrix's, else the controller's id, the same at every advance; `suggest` keeps
nothing between calls.

How a trial is observed: succeeded with its metric (the last value of its series when it
reported one with steps, else its output) is a result; a trial that ended any other way, or
succeeded without the metric, is a failed observation (each algorithm says what that means, see
ci.optimize); a trial that has not ended is pending. With hyperband's `resume: true` a promoted
trial is the same run resumed (ci.runs.cloning: attempt + 1, artifacts kept) with the larger
resource; the rungs it ran before stay among the observations (`meta["rungs"]`).

The search ends once nothing is left to suggest and no trial lives, by the pipeline rule
(ci.runs.policies.pipeline_end: a failed trial fails the search). The best trial so far is on
the controller as `meta["best"] = {"uuid", "params", "value", "metric"}`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import optimize, runtime
from ci.runs import cloning, lifecycle, metrics, pipeline_children, pipelines, policies, stopping
from ci.runtime import Runtime
from ci.store.db import after_commit
from ci.store.models import Run
from schemas.status import DONE, RunStatus

log = logging.getLogger(__name__)
S = RunStatus
# Without `concurrency`, at most this many trials start per advance; the advance sends itself
# again while the budget has more.
BATCH = 100
TUNER_INPUT = "AXON_TUNER_INPUT"  # what an iterative search's tuner is given, as JSON
TUNER_OUTPUT = "suggestions"  # the output its tuner answers with


def advance(rt: Runtime, session: Session, parent: Run, stop: pipelines.Stop | None) -> None:
    """One step of a running search (the caller holds the controller's lock). Given `stop`
    (the stop cascade), its earlyStopping rules are applied first (ci.runs.stopping): they stop
    the trials they name, or the whole search."""
    if stop is not None and parent.status == S.RUNNING:
        _tell(session, stopping.carry_out(session, parent, stopping.judge(session, parent)))
        if parent.status in DONE:
            return
    try:
        step(rt, session, parent)
    except ValueError as exc:  # the history cannot be read: retrying would fail the same way
        log.exception("search %s cannot suggest", parent.uuid)
        if stop is not None:
            _tell(session, stop(session, parent, f"the search cannot suggest: {exc}"))


def step(rt: Runtime, session: Session, parent: Run) -> None:
    rows = _trials(session, parent)
    meta = dict(parent.meta or {})
    search = meta["search"]
    matrix = search["matrix"]
    metric = (matrix.get("metric") or {}).get("name")
    values = _values(session, rows, metric)
    observations = _observations(rows, values)
    _record_best(parent, meta, rows, values, matrix)
    live = sum(1 for row in rows if row.status not in DONE)
    wanted = BATCH
    suggested: list[dict[str, Any]] = []
    round_: dict[str, Any] = {}
    started: list[int] = []
    if parent.status == S.RUNNING:
        limit = meta.get("concurrency")
        wanted = max(0, limit - live) if limit else BATCH
        seed = int(search["seed"])
        if matrix["kind"] == "iterative":
            suggested, round_, started = _from_tuner(session, parent, rows, wanted)
        else:
            suggested = optimize.suggest(matrix, observations, wanted, seed)
    trials = [row for row in rows if "tuner" not in (row.meta or {})]
    started += _start(rt, session, parent, trials, suggested, len(observations), matrix, round_)
    live += len(started)
    if started:
        after_commit(session, lambda: _send("axon.start_run", started))
    if suggested and len(suggested) == wanted and not meta.get("concurrency"):
        after_commit(session, lambda: _send("axon.advance_pipeline", [parent.id]))
    if live:
        return
    statuses = [str(row.status) for row in _trials(session, parent)]
    ended = policies.pipeline_end(parent.status == S.STOPPING, statuses)
    if ended is not None:
        status, message = ended
        lifecycle.transition(session, parent, status, pipelines._END_REASONS[status], message)


def _trials(session: Session, parent: Run) -> list[Any]:
    return list(
        session.execute(
            select(Run.id, Run.uuid, Run.op_name, Run.status, Run.meta, Run.outputs)
            .where(Run.parent_id == parent.id)
            .order_by(Run.id)
        )
    )


def _values(session: Session, rows: list[Any], metric: str | None) -> dict[int, float]:
    """Each trial's metric: the last value of its series if it reported one, else its output."""
    if not metric:
        return {}
    found: dict[int, float] = {}
    for row in rows:
        value = (row.outputs or {}).get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[row.id] = float(value)
    found.update(metrics.last_values(session, [row.id for row in rows], metric))
    return found


def _status(status: str, done: bool) -> str:
    if not done:
        return "running"
    return "succeeded" if status == S.SUCCEEDED else "failed"


def _observations(rows: list[Any], values: dict[int, float]) -> list[dict[str, Any]]:
    """Every rung every trial ran, in the order they were suggested (`seq`)."""
    found: list[tuple[int, dict[str, Any]]] = []
    for row in rows:
        meta = row.meta or {}
        if "tuner" in meta:  # an iterative search's tuner run: no trial
            continue
        for past in meta.get("rungs") or ():
            found.append((past["seq"], {k: past[k] for k in ("params", "value", "status")}))
        status = _status(str(row.status), row.status in DONE)
        current = {
            "params": meta.get("params") or {},
            "value": values.get(row.id),
            "status": status,
        }
        found.append((int(meta.get("seq", row.id)), current))
    return [item for _, item in sorted(found, key=lambda pair: pair[0])]


def _record_best(
    parent: Run, meta: dict[str, Any], rows: list[Any], values: dict[int, float], matrix: dict
) -> None:
    metric = matrix.get("metric") or {}
    maximize = metric.get("optimization") == "maximize"
    scored = [row for row in rows if row.status == S.SUCCEEDED and row.id in values]
    if not scored:
        return
    best = (max if maximize else min)(scored, key=lambda row: values[row.id])
    found = {
        "uuid": best.uuid,
        "params": (best.meta or {}).get("params") or {},
        "value": values[best.id],
        "metric": metric.get("name"),
    }
    if meta.get("best") != found:
        parent.meta = {**meta, "best": found}


def _start(
    rt: Runtime,
    session: Session,
    parent: Run,
    rows: list[Any],
    suggested: list[dict[str, Any]],
    seq: int,
    matrix: dict[str, Any],
    extra: Mapping[str, Any],
) -> list[int]:
    """Create (or, for a promoted hyperband trial, resume) one trial per suggestion; `extra`
    goes in each new trial's meta."""
    started: list[int] = []
    resumed: set[int] = set()
    kind = str(parent.meta["search"]["kind"])
    count = len(rows)
    for offset, params in enumerate(suggested):
        trial = _to_resume(session, matrix, rows, params, resumed)
        if trial is not None:
            _resume(rt, session, trial, params, seq + offset, matrix["metric"]["name"])
            resumed.add(trial.id)
            if trial.status == S.COMPILED:
                started.append(trial.id)
            continue
        index = count
        count += 1
        meta = {"matrix": params, "params": params, "iteration": index, "seq": seq + offset}
        meta.update(extra)
        child = pipeline_children._child(parent, f"{parent.name}#{index}", parent.spec, kind, meta)
        child.pending = None
        lifecycle.create(session, child, "SearchTrial", _shown(params))
        session.flush()
        started.append(child.id)
    return started


def _from_tuner(
    session: Session, parent: Run, rows: list[Any], wanted: int
) -> tuple[list[dict[str, Any]], dict[str, Any], list[int]]:
    """An iterative search's next params: those of its last tuner's answer not made into trials
    yet, or, once that round's trials are all done, a tuner run for the next round. Returns the
    params, the meta of their trials (their round) and the tuner run started, if any."""
    matrix = parent.meta["search"]["matrix"]
    tuners = [row for row in rows if "tuner" in (row.meta or {})]
    if tuners:
        last = tuners[-1]
        if last.status != S.SUCCEEDED:  # running, or failed: the search ends with it
            return [], {}, []
        round_ = int(last.meta["tuner"])
        answer = optimize.tuner_output(matrix, (last.outputs or {}).get(TUNER_OUTPUT))
        trials = [row for row in rows if "tuner" not in (row.meta or {})]
        made = sum(1 for row in trials if (row.meta or {}).get("round") == round_)
        if made < len(answer):
            return answer[made : made + wanted], {"round": round_}, []
        if not answer or len(tuners) >= int(matrix["maxIterations"]):
            return [], {}, []
        if any(row.status not in DONE for row in trials):
            return [], {}, []
    search = parent.meta["search"]
    written = {**matrix, "params": search.get("written") or matrix.get("params") or {}}
    answer_to = optimize.tuner_input(written, [], int(search["seed"]))
    # An iterative matrix names no metric: its tuner is given each trial's outputs to judge.
    trials = [row for row in rows if "tuner" not in (row.meta or {})]
    answer_to["observations"] = [
        {
            "params": (row.meta or {}).get("params") or {},
            "status": _status(str(row.status), row.status in DONE),
            "outputs": row.outputs or {},
        }
        for row in trials
    ]
    return [], {}, [_tuner(session, parent, len(tuners), matrix, answer_to)]


def _tuner(
    session: Session, parent: Run, round_: int, matrix: dict[str, Any], given: dict[str, Any]
) -> int:
    """The run of the user's tuner container for one round, given the observations so far in
    AXON_TUNER_INPUT; it answers with its output `suggestions` (a list of params)."""
    container = dict(matrix.get("container") or {})
    env = [*(container.get("env") or ()), {"name": TUNER_INPUT, "value": json.dumps(given)}]
    spec = {
        "version": 1.1,
        "kind": "operation",
        "name": f"{parent.name}-tuner",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "tuner",
            # Each round's answer is new, whatever the last round's run looked like.
            "cache": {"disable": True},
            "run": {"kind": "job", "container": {**container, "env": env}},
        },
    }
    meta = {"tuner": round_}
    child = pipeline_children._child(parent, f"{parent.name}#tuner{round_}", spec, "job", meta)
    child.pending = None
    lifecycle.create(session, child, "SearchTuner", f"round {round_ + 1}")
    session.flush()
    return int(child.id)


def _to_resume(
    session: Session,
    matrix: dict[str, Any],
    rows: list[Any],
    params: dict[str, Any],
    taken: set[int],
) -> Run | None:
    """The trial a hyperband promotion with `resume: true` continues, if this is one: a
    succeeded trial with the same params at a smaller resource."""
    if matrix.get("kind") != "hyperband" or not matrix.get("resume"):
        return None
    name = matrix["resource"]["name"]
    wanted = {k: v for k, v in params.items() if k != name}
    for row in rows:
        mine = (row.meta or {}).get("params") or {}
        same = {k: v for k, v in mine.items() if k != name} == wanted
        if same and row.status == S.SUCCEEDED and row.id not in taken:
            if float(mine.get(name, 0)) < float(params[name]):
                return session.get(Run, row.id, with_for_update=True)
    return None


def _resume(
    rt: Runtime, session: Session, trial: Run, params: dict[str, Any], seq: int, metric: str
) -> None:
    """Promote `trial` to the next rung: the rung it ran joins `meta["rungs"]`, and the same
    run goes on with the larger resource."""
    meta = dict(trial.meta or {})
    value = _values(session, [trial], metric).get(trial.id)
    ran = {"params": meta.get("params") or {}, "value": value, "status": _status(S.SUCCEEDED, True)}
    rungs = [*(meta.get("rungs") or ()), {**ran, "seq": meta.get("seq", trial.id)}]
    trial.meta = {**meta, "rungs": rungs, "matrix": params, "params": params, "seq": seq}
    cloning.resume(rt, session, trial, actor=f"hyperband, promoted with {_shown(params)}")


def _tell(session: Session, run_ids: list[int]) -> None:
    if run_ids:
        after_commit(session, lambda: _send("axon.stop_run", run_ids))


def _send(task_name: str, run_ids: list[int]) -> None:
    for run_id in run_ids:
        runtime.enqueue(task_name, run_id)


def _shown(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in params.items()) or "no params"
