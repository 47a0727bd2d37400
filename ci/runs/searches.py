"""Searches: a hyperopt, bayes or hyperband matrix runs as a controller whose trials are chosen
from results as they come in (ci.runs.suggesting makes them); this is where one begins.

`begin` turns the compiled run into the controller (`kind: matrix`, running, no runner) with its
matrix section, seed, concurrency and earlyStopping in its meta, after compiling one trial so
that a spec that cannot run fails the search before any trial starts; the engine's first
advance (`axon.advance_pipeline`) makes the first trials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from ci import optimize, runtime
from ci.compile import matrix as matrices
from ci.compile.compiler import CompiledRun, compile_operation
from ci.runs import lifecycle
from ci.runtime import Runtime
from ci.store.db import after_commit
from ci.store.models import Run
from schemas.errors import SpecErrors
from schemas.spec import V1Operation
from schemas.spec_load import located
from schemas.status import RunStatus

S = RunStatus
SEARCHES = ("hyperopt", "bayes", "hyperband", "iterative")
ITERATIVE = (
    "an iterative matrix gets its suggestions from its tuner container, run once per round: "
    "give the container (its image and command)"
)
UNBOUNDED = (
    "a bayes search runs numInitialRuns + maxIterations trials; without maxIterations it "
    "would never end"
)


def is_search(meta: Mapping[str, Any] | None) -> bool:
    return bool(meta and "search" in meta)


def begin(
    rt: Runtime,
    session: Session,
    run: Run,
    op: V1Operation,
    context: dict[str, Any],
    globals_: dict[str, Any],
    options: Mapping[str, Any],
) -> None:
    """Turn a run whose operation has a search matrix into its controller, whose first advance
    starts its first trials; SpecErrors if a trial cannot compile or the kind is not one Axon
    runs."""
    assert op.matrix is not None
    if op.matrix.kind == "iterative" and getattr(op.matrix, "container", None) is None:
        raise SpecErrors([located(("matrix", "container"), ITERATIVE, op.source)])
    if op.matrix.kind == "bayes" and getattr(op.matrix, "max_iterations", None) is None:
        raise SpecErrors([located(("matrix", "maxIterations"), UNBOUNDED, op.source)])
    matrix = _dumped(op.matrix)
    seed = run.id
    # One trial compiled now: a spec that cannot run fails the search before any trial starts.
    compiled = first_trial(op, seed, context=context, globals_=globals_, **options)
    early = [_dumped(rule) for rule in op.matrix.early_stopping or ()]
    # The params as the user wrote them, for a tuner container: it reads its own spelling.
    section = (run.spec or {}).get("matrix")
    written = section.get("params") if isinstance(section, dict) else matrix.get("params")
    run.kind = "matrix"
    run.meta = {
        **(run.meta or {}),
        "refs": dict(options.get("refs") or {}),
        "graph": {},
        "concurrency": op.matrix.concurrency,
        "early_stopping": early,
        "search": {"matrix": matrix, "seed": seed, "kind": compiled.kind, "written": written},
    }
    lifecycle.transition(session, run, S.COMPILED, "Compiled", f"{op.matrix.kind} search")
    lifecycle.transition(session, run, S.RUNNING, "PipelineStarted", f"{op.matrix.kind} search")
    after_commit(session, lambda: runtime.enqueue("axon.advance_pipeline", run.id))


def is_search_matrix(op: V1Operation) -> bool:
    """Whether op's matrix is a search (its trials chosen from results), not a plan."""
    return op.matrix is not None and op.matrix.kind not in matrices.EXPANDABLE


def first_trial(op: V1Operation, seed: int, **options: Any) -> CompiledRun:
    """The search's first trial, compiled: SpecErrors name what would fail every trial."""
    assert op.matrix is not None
    if op.matrix.kind == "iterative":  # its tuner suggests: a draw from its space stands in
        first = matrices.draw_one(op.matrix, seed)
    else:
        [first] = optimize.suggest(_dumped(op.matrix), [], 1, seed) or [{}]
    return compile_operation(op, matrix_values=first, iteration=0, **options)


def _dumped(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped
