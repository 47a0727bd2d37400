"""The `iterative` kind: the user's tuner container makes the suggestions, round by round.

Axon cannot run a user's code from a pure function, so suggest() refuses this kind and names the
contract instead: each round (at most `maxIterations`) the engine gives the container
`tuner_input(matrix, observations)` as JSON and reads its answer with
`tuner_output(matrix, answer)`.
"""

from __future__ import annotations

from typing import Any

from ci.optimize.history import History
from schemas.spec_matrix import V1Iterative


class TunerSuggests(ValueError):
    """An iterative search's suggestions come from its tuner container, not from Axon."""


def refuse(matrix: V1Iterative, history: History, n: int, seed: int) -> list[dict[str, Any]]:
    raise TunerSuggests(
        "an iterative matrix gets its suggestions from its tuner container: give it "
        "ci.optimize.tuner_input(matrix, observations) and read its answer with "
        "ci.optimize.tuner_output(matrix, answer)"
    )


def tuner_input(
    matrix: V1Iterative, raw_params: dict[str, Any], history: History, seed: int
) -> dict[str, Any]:
    """The space as the user wrote it, every observation (failed and running ones included, so
    the tuner decides what they mean), the round budget and the seed."""
    return {
        "params": raw_params,
        "observations": [
            {"params": dict(t.params), "value": t.value, "status": t.status} for t in history.trials
        ],
        "maxIterations": matrix.max_iterations,
        "seed": matrix.seed if matrix.seed is not None else seed,
    }


def tuner_output(matrix: V1Iterative, answer: Any) -> list[dict[str, Any]]:
    """The tuner's suggestions, checked: a list of params naming only the matrix's params."""
    if not isinstance(answer, list) or not all(isinstance(p, dict) for p in answer):
        raise ValueError(f"tuner answer: expected a list of params, got {answer!r:.200}")
    known = set(matrix.params or {})
    for index, params in enumerate(answer):
        unknown = sorted(set(params) - known) if known else []
        if unknown:
            raise ValueError(
                f"tuner answer[{index}]: {', '.join(unknown)} not among the matrix's params "
                f"({', '.join(sorted(known))})"
            )
    return [dict(p) for p in answer]
