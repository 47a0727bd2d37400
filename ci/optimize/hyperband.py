"""The `hyperband` kind: brackets of successive halving over a resource, as Polyaxon computes them.

The figures follow polyaxon/_flow/matrix/hyperband.py (V1Hyperband.set_tuning_params,
get_num_runs, get_num_runs_to_keep) and polyaxon/hypertune's search_managers/hyperband/manager.py
(get_resources, get_n_resources): with R = maxIterations, s_max = floor(log_eta R) and
B = (s_max + 1)·R, bracket s (from s_max down to 0) starts n = ceil(B/R · eta^s / (s + 1)) configs
at resource R·eta^-s; rung k of it runs int(n·eta^-(k-1) / eta) of the best of rung k-1 at
R·eta^(k-s). For R = 81, eta = 3: 81, 34, 15, 8 and 5 configs at 1, 3, 9, 27 and 81.

Stateless, so the schedule is replayed from the observations: they come in the order the trials
were suggested, each with the resource in its params (checked), and they fill the rungs in
schedule order. A rung is promoted only once the rung before it has no running trial (Polyaxon's
synchronous halving), so suggest() gives nothing while one runs. A failed trial fills its slot
and is never promoted. With `resume: true` a promoted trial has the params of the trial it
continues (only the resource grows), so the engine resumes that run rather than starting anew.
Each bracket draws its configs with its own seed; Polyaxon reuses the search's seed for every
bracket, which starts each bracket on the same configs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ci.compile import matrix as expansion
from ci.optimize.history import History, Trial
from schemas.spec_matrix import V1Hyperband, V1RandomSearch


@dataclass(frozen=True)
class Rung:
    bracket: int
    index: int
    runs: int
    resource: float


def s_max(matrix: V1Hyperband) -> int:
    """floor(log_eta R), counted so that float error cannot lose a bracket (log(243)/log(3)
    is 4.999..., which Polyaxon's int() truncates to 4)."""
    found = int(math.log(matrix.max_iterations) / math.log(matrix.eta))
    while matrix.eta ** (found + 1) <= matrix.max_iterations * (1 + 1e-12):
        found += 1
    return found


def num_runs(matrix: V1Hyperband, bracket: int) -> int:
    budget = (s_max(matrix) + 1) * matrix.max_iterations
    return math.ceil(budget / matrix.max_iterations * matrix.eta**bracket / (bracket + 1))


def num_runs_to_keep(matrix: V1Hyperband, runs: int, rung: int) -> int:
    """How many of a bracket's `runs` configs go on past its rung `rung`."""
    return int(runs * matrix.eta**-rung / matrix.eta)


def resource(matrix: V1Hyperband, bracket: int, rung: int) -> int | float:
    amount = matrix.max_iterations * matrix.eta ** (rung - bracket)
    if matrix.resource.type == "float":
        return expansion.tidy(amount)
    nearest = round(amount)
    return int(nearest) if math.isclose(amount, nearest, rel_tol=1e-9) else int(amount)


def rungs(matrix: V1Hyperband) -> list[Rung]:
    """Every rung of every bracket, in the order they run, at their nominal sizes."""
    found: list[Rung] = []
    for bracket in range(s_max(matrix), -1, -1):
        runs = num_runs(matrix, bracket)
        size = runs
        for index in range(bracket + 1):
            if index:
                size = num_runs_to_keep(matrix, runs, index - 1)
            if size < 1:
                break
            found.append(Rung(bracket, index, size, resource(matrix, bracket, index)))
    return found


def _configs(matrix: V1Hyperband, bracket: int, seed: int) -> list[dict[str, Any]]:
    count = num_runs(matrix, bracket)
    if not matrix.params:
        return [{} for _ in range(count)]
    plan = V1RandomSearch(
        kind="random", params=matrix.params, num_runs=count, seed=seed * 1009 + bracket
    )
    return expansion.random_search(plan)


def _best(matrix: V1Hyperband, trials: Sequence[Trial], keep: int) -> list[dict[str, Any]]:
    scored = [t for t in trials if t.done and t.value is not None]
    maximize = matrix.metric.optimization == "maximize"
    scored.sort(key=lambda t: t.value if t.value is not None else 0.0, reverse=maximize)
    name = matrix.resource.name
    return [{k: v for k, v in t.params.items() if k != name} for t in scored[:keep]]


def suggest(matrix: V1Hyperband, history: History, n: int, seed: int) -> list[dict[str, Any]]:
    """The next trials of the current rung (fewer than n when the rung has fewer left)."""
    trials, position = history.trials, 0
    previous: Sequence[Trial] = ()
    for rung in rungs(matrix):
        if rung.index == 0:
            members = _configs(matrix, rung.bracket, seed)
        elif any(t.pending for t in previous):
            return []
        else:
            members = _best(matrix, previous, rung.runs)
        filled = trials[position : position + len(members)]
        _check(matrix, rung, filled, position)
        if len(filled) < len(members):
            wanted = members[len(filled) : len(filled) + n]
            return [{**params, matrix.resource.name: rung.resource} for params in wanted]
        position += len(members)
        previous = filled
    return []


def _check(matrix: V1Hyperband, rung: Rung, filled: Sequence[Trial], position: int) -> None:
    name = matrix.resource.name
    for offset, trial in enumerate(filled):
        given = trial.params.get(name)
        if not isinstance(given, int | float) or not math.isclose(given, rung.resource):
            raise ValueError(
                f"observations[{position + offset}].params.{name}: expected {rung.resource} "
                f"(bracket {rung.bracket}, rung {rung.index}), got {given!r}; hyperband "
                "observations must come in the order their trials were suggested"
            )
