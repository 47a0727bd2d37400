"""The hyperband kind: Polyaxon's brackets and rungs, replayed from the observations."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from ci.optimize import suggest
from ci.optimize.hyperband import num_runs, num_runs_to_keep, resource, rungs, s_max
from schemas.spec_matrix import V1Matrix

HYPERBAND = {
    "kind": "hyperband",
    "maxIterations": 81,
    "eta": 3,
    "resource": {"name": "steps", "type": "int"},
    "metric": {"name": "loss", "optimization": "minimize"},
    "params": {"lr": {"kind": "uniform", "value": [0, 1]}},
}


def spec(**changes):
    return TypeAdapter(V1Matrix).validate_python({**HYPERBAND, **changes})


def test_r81_eta3_has_polyaxons_brackets():
    matrix = spec()
    # polyaxon/hypertune tests/test_hyperband.py: s_max 4; 81, 34, 15, 8 and 5 configs.
    assert s_max(matrix) == 4
    assert [num_runs(matrix, s) for s in (4, 3, 2, 1, 0)] == [81, 34, 15, 8, 5]
    assert [resource(matrix, s, 0) for s in (4, 3, 2, 1, 0)] == [1, 3, 9, 27, 81]


def test_r81_eta3_keeps_polyaxons_numbers_of_configs_per_rung():
    matrix = spec()
    assert [num_runs_to_keep(matrix, 81, k) for k in range(5)] == [27, 9, 3, 1, 0]
    assert [num_runs_to_keep(matrix, 34, k) for k in range(4)] == [11, 3, 1, 0]
    assert [num_runs_to_keep(matrix, 15, k) for k in range(3)] == [5, 1, 0]
    assert [num_runs_to_keep(matrix, 8, k) for k in range(2)] == [2, 0]
    assert [(r.bracket, r.index, r.runs, r.resource) for r in rungs(matrix)] == [
        (4, 0, 81, 1), (4, 1, 27, 3), (4, 2, 9, 9), (4, 3, 3, 27), (4, 4, 1, 81),
        (3, 0, 34, 3), (3, 1, 11, 9), (3, 2, 3, 27), (3, 3, 1, 81),
        (2, 0, 15, 9), (2, 1, 5, 27), (2, 2, 1, 81),
        (1, 0, 8, 27), (1, 1, 2, 81),
        (0, 0, 5, 81),
    ]  # fmt: skip


def test_float_error_does_not_lose_a_bracket():
    # log(243) / log(3) is 4.999...: Polyaxon's int() would give 4 brackets after the first.
    assert s_max(spec(maxIterations=243)) == 5


def test_a_float_resource_keeps_its_fraction():
    matrix = spec(maxIterations=10, resource={"name": "epochs", "type": "float"})
    assert [round(resource(matrix, s, 0), 2) for s in (2, 1, 0)] == [1.11, 3.33, 10.0]


def finish(found: list[dict], value, status: str = "succeeded") -> list[dict]:
    return [{"params": p, "value": value(p), "status": status} for p in found]


def test_the_search_walks_every_rung_promoting_the_best():
    observations: list[dict] = []
    per_rung: list[tuple[int, int]] = []
    while found := suggest(HYPERBAND, observations, 200, seed=1):
        per_rung.append((len(found), found[0]["steps"]))
        if len(per_rung) == 2:
            # The 27 promoted to rung 1 are the 27 lowest losses of rung 0.
            rung0 = sorted(observations, key=lambda o: o["value"])[:27]
            assert {o["params"]["lr"] for o in rung0} == {p["lr"] for p in found}
        observations += finish(found, lambda p: p["lr"] / p["steps"])
    assert per_rung == [
        (81, 1), (27, 3), (9, 9), (3, 27), (1, 81),
        (34, 3), (11, 9), (3, 27), (1, 81),
        (15, 9), (5, 27), (1, 81),
        (8, 27), (2, 81),
        (5, 81),
    ]  # fmt: skip


def test_a_running_trial_holds_back_the_next_rung():
    first = suggest(HYPERBAND, [], 200, seed=1)
    observations = finish(first[:-1], lambda p: p["lr"])
    observations += finish(first[-1:], lambda p: None, "running")
    assert suggest(HYPERBAND, observations, 10, seed=1) == []


def test_a_rung_is_handed_out_n_at_a_time():
    first = suggest(HYPERBAND, [], 50, seed=1)
    rest = suggest(HYPERBAND, finish(first, lambda p: None, "running"), 50, seed=1)
    assert len(first) == 50 and len(rest) == 31
    assert first + rest == suggest(HYPERBAND, [], 200, seed=1)


def test_failed_trials_are_never_promoted():
    first = suggest(HYPERBAND, [], 200, seed=1)
    best = sorted(first, key=lambda p: p["lr"])[:5]
    observations = [
        {
            "params": p,
            "value": None if p in best else p["lr"],
            "status": "failed" if p in best else "succeeded",
        }
        for p in first
    ]
    promoted = suggest(HYPERBAND, observations, 200, seed=1)
    assert len(promoted) == 27
    assert not {p["lr"] for p in best} & {p["lr"] for p in promoted}


def test_a_maximized_metric_promotes_the_highest_values():
    matrix = {**HYPERBAND, "metric": {"name": "accuracy", "optimization": "maximize"}}
    first = suggest(matrix, [], 200, seed=1)
    promoted = suggest(matrix, finish(first, lambda p: p["lr"]), 200, seed=1)
    assert min(p["lr"] for p in promoted) >= sorted(p["lr"] for p in first)[-27]


def test_observations_out_of_schedule_order_are_refused():
    first = suggest(HYPERBAND, [], 2, seed=1)
    wrong = finish([{**first[0], "steps": 9}], lambda p: 0.1)
    with pytest.raises(ValueError, match=r"observations\[0\]\.params\.steps: expected 1"):
        suggest(HYPERBAND, wrong, 1, seed=1)
