"""A pipeline's beginning: a compiled dag's ops and a matrix's trials as waiting child runs.

`begin_dag` and `begin_matrix` turn a run into its controller (ci.runs.pipelines) and create
every child at once, each waiting (`pending: upstream`) until the engine's first step releases
the ready ones; a search's trials are created as they are chosen (ci.runs.suggesting).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.compile import dag as dags
from ci.compile import matrix as matrices
from ci.compile.compiler import compile_matrix
from ci.compile.inheritance import dag_settings, with_dag_settings
from ci.compile.patching import patch_run
from ci.runs import lifecycle, pipelines, policies, searches
from ci.runs.pipelines import UPSTREAM
from ci.runtime import Runtime
from ci.store.models import Run
from schemas.spec import V1Operation
from schemas.spec_dag import V1Dag
from schemas.status import DONE, RunStatus

S = RunStatus


def is_dag(run: Run) -> bool:
    """Whether the run compiled to a dag: a controller no runner holds."""
    return bool((run.compiled or {}).get("kind") == "dag")


def begin_dag(rt: Runtime, session: Session, run: Run) -> None:
    """Turn a compiled dag run into its controller: one child per op, then the roots start."""
    data = (run.compiled or {})["component"]["run"]
    dag = V1Dag.model_validate(data, context={})
    shared = {c["name"]: c for c in data.get("components") or () if c.get("name")}
    ops = {op.name: op for op in dag.operations if op.name}
    graph = {name: _node(op) for name, op in ops.items()}
    passed_on = dag_settings(data)  # the dag's environment, connections and volumes
    specs = {
        name: _self_contained(with_dag_settings(data["operations"][index], passed_on), shared)
        for index, name in enumerate(op.name for op in dag.operations)
        if name
    }
    watching = _watchers(graph)
    children = [
        _child(run, name, specs[name], _kind_of(specs[name]), {"wake": watching.get(name, [])})
        for name in dags.order(dag)
    ]
    early = [dump_model(rule) for rule in dag.early_stopping or ()]
    _begin(rt, session, run, "dag", children, graph, dag.concurrency, early)


def begin_matrix(
    rt: Runtime,
    session: Session,
    run: Run,
    op: V1Operation,
    context: dict[str, Any],
    globals_: dict[str, Any],
    options: Mapping[str, Any],
) -> None:
    """Turn a run whose operation has a matrix into its controller: a grid, random or mapping
    one has one child per trial (each compiled with its values when it starts); any other kind
    is a search (ci.runs.searches). SpecErrors if a trial cannot compile."""
    assert op.matrix is not None
    if op.matrix.kind not in matrices.EXPANDABLE:
        # Chosen from results: a search asks ci.optimize for its trials as results come in.
        searches.begin(rt, session, run, op, context, globals_, options)
        return
    seed = run.id
    compiled = compile_matrix(op, context=context, globals_=globals_, seed=seed, **options)
    values = matrices.expand(op.matrix, seed=seed)
    kind = compiled[0].kind if compiled else "job"
    children = [
        _child(run, f"{run.name}#{index}", run.spec, kind, {"matrix": trial, "iteration": index})
        for index, trial in enumerate(values)
    ]
    lifecycle.transition(session, run, S.COMPILED, "Compiled", f"{len(children)} trial(s)")
    run.meta = {**(run.meta or {}), "refs": dict(options.get("refs") or {})}
    early = [dump_model(rule) for rule in op.matrix.early_stopping or ()]
    concurrency = getattr(op.matrix, "concurrency", None)
    _begin(rt, session, run, "matrix", children, {}, concurrency, early)


def dump_model(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _begin(
    rt: Runtime,
    session: Session,
    run: Run,
    kind: str,
    children: list[Run],
    graph: dict[str, dict[str, Any]],
    concurrency: int | None,
    early: list[dict[str, Any]],
) -> None:
    run.kind = kind
    run.meta = {
        **(run.meta or {}),
        "graph": graph,
        "concurrency": concurrency,
        "early_stopping": early,
    }
    existing = set(session.scalars(select(Run.op_name).where(Run.parent_id == run.id)))
    for child in children:
        if child.op_name not in existing:
            lifecycle.create(session, child, "PipelineOp", f"{kind} {run.uuid}")
    # The controller's lock is held: no other worker creates these rows meanwhile, and
    # uq_runs_op turns a mistake into an error rather than a second op.
    session.flush()
    noun = "op(s)" if kind == "dag" else "trial(s)"
    lifecycle.transition(session, run, S.RUNNING, "PipelineStarted", f"{len(children)} {noun}")
    pipelines.step(rt, session, run)


def _node(op: V1Operation) -> dict[str, Any]:
    ups = dags.upstreams(op)
    events: dict[str, list[str]] = {}
    for event in op.events or ():
        if event.upstream:
            events.setdefault(event.upstream, []).extend(event.kinds)
    # An op named only by an event waits for that event, not for the trigger policy.
    by_policy = [name for name, field in ups.items() if not field.startswith("events[")]
    return {
        "up": by_policy,
        "trigger": op.trigger or policies.DEFAULT_POLICY,
        "skip": bool(op.skip_on_upstream_skip),
        "events": events,
    }


def _watchers(graph: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """For each op some other op watches: the statuses it must wake the controller on."""
    wake: dict[str, set[str]] = {}
    for node in graph.values():
        for name, kinds in node["events"].items():
            wake.setdefault(name, set()).update(policies.watched(kinds))
    return {name: sorted(statuses - DONE) for name, statuses in wake.items()}


def _self_contained(op: dict[str, Any], shared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A dag op as an operation document of its own: its dagRef component inlined, and its
    runPatch applied to an inline component (inside a dag it may give the container)."""
    spec = {"version": 1.1, "kind": "operation", **op}
    name = spec.pop("dagRef", None)
    if name is not None:
        spec["component"] = {"version": 1.1, "kind": "component", **shared[name]}
    component = spec.get("component")
    if isinstance(component, dict) and spec.get("runPatch"):
        strategy = spec.get("patchStrategy") or "post_merge"
        run = patch_run(component["run"], spec.pop("runPatch"), strategy)
        spec["component"] = {**component, "run": run}
    return spec


def _kind_of(spec: dict[str, Any]) -> str:
    run = (spec.get("component") or {}).get("run") or {}
    return "matrix" if spec.get("matrix") else str(run.get("kind") or "job")


def _child(parent: Run, op_name: str, spec: dict[str, Any], kind: str, meta: dict[str, Any]) -> Run:
    checkout = (
        parent.subscription.spec.get("checkout", True)
        if parent.subscription is not None
        else (parent.meta or {}).get("checkout", True)
    )
    return Run(
        project_id=parent.project_id,
        parent_id=parent.id,
        op_name=op_name,
        name=str(spec.get("name") or op_name)[:256],
        kind=kind,
        event=parent.event,
        spec=spec,
        runner=parent.runner,
        delivery_id=parent.delivery_id,
        pending=UPSTREAM,
        meta={**meta, "checkout": checkout},
    )
