"""Searches: which params each run of a matrix gets, from the observations so far; pure.

`suggest(matrix, observations, n, seed)` gives up to n new param dicts for a polyaxonfile's
matrix section (camelCase keys). Nothing is kept between calls: the history is rebuilt from the
observations each time. How each kind reads them:

- grid, random, mapping: every run is planned up front; a point taken by any observation
  (succeeded, failed or running) is not suggested again.
- hyperopt: failed trials count among the worst and running ones as pending (ci.optimize.tpe).
- bayes: failed trials take the worst value seen, running ones the model's own mean
  (ci.optimize.bayes).
- hyperband: observations fill the rungs in the order they were suggested; failed trials are
  never promoted, and a running one holds back the next rung (ci.optimize.hyperband).
- iterative: refused with TunerSuggests; tuner_input() and tuner_output() are its contract.

Fewer than n come back when the kind's budget (numRuns, maxIterations, the current rung) or a
listable space runs out. The matrix's `seed` wins over the `seed` argument. A suggestion
runs with one BLAS thread (ci.optimize.threads), whatever OPENBLAS_NUM_THREADS says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from ci.optimize import bayes, hyperband, iterative, planned, tpe
from ci.optimize.history import History, read
from ci.optimize.iterative import TunerSuggests
from ci.optimize.threads import one_blas_thread
from schemas.spec_matrix import V1Iterative, V1Matrix

__all__ = ["TunerSuggests", "suggest", "tuner_input", "tuner_output"]

_MATRIX: TypeAdapter[Any] = TypeAdapter(V1Matrix)
_KINDS: dict[str, Callable[[Any, History, int, int], list[dict[str, Any]]]] = {
    "grid": planned.grid,
    "random": planned.random_search,
    "mapping": planned.mapping,
    "hyperopt": tpe.suggest,
    "bayes": bayes.suggest,
    "hyperband": hyperband.suggest,
    "iterative": iterative.refuse,
}


def suggest(matrix: dict, observations: list[dict], n: int, seed: int) -> list[dict]:
    """Up to n new params for `matrix`, given the `observations` of its trials so far."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n: expected a whole number of suggestions, got {n!r}")
    spec = _MATRIX.validate_python(matrix)
    history = read(observations)
    if n == 0:
        return []
    own = getattr(spec, "seed", None)
    with one_blas_thread():
        return _KINDS[spec.kind](spec, history, n, seed if own is None else own)


def tuner_input(matrix: dict, observations: list[dict], seed: int = 0) -> dict[str, Any]:
    """What an iterative search's tuner container is given each round (JSON-ready)."""
    spec = _iterative(matrix)
    return iterative.tuner_input(spec, dict(matrix.get("params") or {}), read(observations), seed)


def tuner_output(matrix: dict, answer: Any) -> list[dict[str, Any]]:
    """An iterative search's tuner answer, checked, as the params of its next runs."""
    return iterative.tuner_output(_iterative(matrix), answer)


def _iterative(matrix: dict) -> V1Iterative:
    spec = _MATRIX.validate_python(matrix)
    if not isinstance(spec, V1Iterative):
        raise ValueError(f"a {spec.kind} matrix has no tuner; only an iterative one does")
    return spec
