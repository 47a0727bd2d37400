"""Grid, random and mapping searches: every run is planned up front, observations only say
which planned runs are taken.

A taken run (succeeded, failed or running) is never suggested again: a failed run's point is
spent, as in Polyaxon, where retrying a run is its own `termination.maxRetries`' business.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ci.compile import matrix as expansion
from ci.optimize.history import History, key
from schemas.spec_matrix import V1GridSearch, V1Mapping, V1RandomSearch


def _untaken(plan: list[dict[str, Any]], history: History, n: int) -> list[dict[str, Any]]:
    # Counted, not a set: a mapping may list the same params twice and mean two runs.
    names = sorted({name for params in plan for name in params})
    taken = Counter(key(trial.params, names) for trial in history.trials)
    found: list[dict[str, Any]] = []
    for params in plan:
        point = key(params, names)
        if taken[point]:
            taken[point] -= 1
        elif len(found) < n:
            found.append(params)
    return found


def grid(matrix: V1GridSearch, history: History, n: int, seed: int) -> list[dict[str, Any]]:
    """The next combinations in key order (the last param varies fastest), up to numRuns."""
    return _untaken(expansion.grid(matrix), history, n)


def random_search(
    matrix: V1RandomSearch, history: History, n: int, seed: int
) -> list[dict[str, Any]]:
    """The next of numRuns distinct seeded draws (the matrix's seed wins over `seed`)."""
    return _untaken(expansion.random_search(matrix, seed), history, n)


def mapping(matrix: V1Mapping, history: History, n: int, seed: int) -> list[dict[str, Any]]:
    """The next listed values, in order."""
    return _untaken(expansion.mapping(matrix), history, n)
