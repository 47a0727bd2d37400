"""`/axon sweep <subscription> numRuns=N`: the subscription's search with its budget set.

The operation must have a matrix: a sweep is a search, and `/axon run` is for one run. `numRuns`
sets the budget each kind has: `numRuns` for grid, random and hyperopt (a hyperopt's
`maxIterations`, which multiplies it, is dropped: N runs in all); for bayes the runs after
its `numInitialRuns` (`maxIterations = numRuns - numInitialRuns`, as Polyaxon's bayes makes one
run per iteration after the initial ones); for mapping its first N values. Hyperband and
iterative count their budget in rounds (`maxIterations`), not runs: numRuns is refused for them.
A budget beyond what the params can list (a grid's combinations, a mapping's values, any kind
whose params are all listable) is refused rather than quietly capped.
"""

from __future__ import annotations

import math
from copy import deepcopy
from typing import Any

from ci.compile import matrix as matrices
from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_operation

# The key of a matrix's budget in runs, by kind (camelCase, as the polyaxonfile spells it).
BUDGET = {"grid": "numRuns", "random": "numRuns", "hyperopt": "numRuns", "bayes": "maxIterations"}
ROUNDS = ("hyperband", "iterative")


class NotASearch(ValueError):
    """The sweep cannot start: the operation has no matrix, or numRuns does not fit it."""


def operation(spec: dict[str, Any], num_runs: int | None) -> dict[str, Any]:
    """The operation `spec` with its matrix's budget set to `num_runs` runs (None: as it is);
    NotASearch saying why when it has no matrix or `num_runs` does not fit it."""
    found = spec.get("matrix")
    if not isinstance(found, dict):
        name = spec.get("name") or "the operation"
        raise NotASearch(f"{name} has no matrix, so there is nothing to sweep; /axon run runs it")
    if num_runs is None:
        return spec
    kind = str(found.get("kind"))
    if kind in ROUNDS:
        raise NotASearch(
            f"numRuns: a {kind} matrix counts its budget in rounds (maxIterations), not runs; "
            "set it in the operation"
        )
    most = _most(spec, kind)
    if num_runs > most:
        raise NotASearch(
            f"numRuns: {num_runs} is more than the {most} runs the {kind} matrix can make"
        )
    changed = deepcopy(spec)
    matrix = changed["matrix"]
    if kind == "mapping":
        matrix["values"] = matrix["values"][:num_runs]
    elif kind == "bayes":
        initial = int(matrix.get("numInitialRuns") or 0)
        if num_runs <= initial:
            raise NotASearch(
                f"numRuns: {num_runs} leaves no run after the bayes matrix's "
                f"{initial} initial runs (numInitialRuns); give more than {initial}"
            )
        matrix["maxIterations"] = num_runs - initial
    else:
        matrix[BUDGET[kind]] = num_runs
        if kind == "hyperopt":
            matrix.pop("maxIterations", None)
    return changed


def _most(spec: dict[str, Any], kind: str) -> int:
    """The most runs the matrix can make: its values, or its params' combinations when all are
    listable; else the cap on runs from one matrix."""
    try:
        parsed = load_operation(spec).matrix
    except (SpecError, SpecErrors) as exc:
        raise NotASearch(f"the operation's matrix cannot be read: {exc}") from None
    if kind == "mapping":
        return len(getattr(parsed, "values", None) or ())
    params = getattr(parsed, "params", None) or {}
    size = matrices.space_size(params) if params else math.inf
    return int(min(size, matrices.MAX_RUNS))
