"""Grid, random and mapping searches through suggest(): planned runs, handed out once each."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ci.optimize import suggest
from tests.ci.optimize.kinds import KINDS

GRID = {
    "kind": "grid",
    "params": {
        "lr": {"kind": "choice", "value": [0.1, 0.01]},
        "layers": {"kind": "range", "value": [1, 4, 1]},
    },
}


def observed(params: dict, status: str = "succeeded", value: float | None = 1.0) -> dict:
    return {"params": params, "value": value, "status": status}


def test_grid_goes_through_the_product_in_key_order():
    assert suggest(GRID, [], 10, seed=0) == [
        {"lr": 0.1, "layers": 1},
        {"lr": 0.1, "layers": 2},
        {"lr": 0.1, "layers": 3},
        {"lr": 0.01, "layers": 1},
        {"lr": 0.01, "layers": 2},
        {"lr": 0.01, "layers": 3},
    ]


def test_grid_num_runs_truncates_the_product():
    found = suggest({**GRID, "numRuns": 4}, [], 10, seed=0)
    assert found == suggest(GRID, [], 4, seed=0)


def test_grid_refuses_a_distribution():
    matrix = {"kind": "grid", "params": {"lr": {"kind": "uniform", "value": [0, 1]}}}
    with pytest.raises(ValidationError, match="distribution"):
        suggest(matrix, [], 1, seed=0)


def test_grid_carries_on_after_the_taken_points_whatever_their_status():
    first = suggest(GRID, [], 3, seed=0)
    taken = [observed(first[0]), observed(first[1], "failed", None), observed(first[2], "running")]
    assert suggest(GRID, taken, 10, seed=0) == suggest(GRID, [], 10, seed=0)[3:]


def test_grid_gives_nothing_once_every_combination_is_taken():
    taken = [observed(p) for p in suggest(GRID, [], 10, seed=0)]
    assert suggest(GRID, taken, 5, seed=0) == []


RANDOM = {
    "kind": "random",
    "numRuns": 20,
    "params": {
        "lr": {"kind": "loguniform", "value": [-7, 0]},
        "batch": {"kind": "choice", "value": [16, 32, 64]},
    },
}


def test_random_search_is_seeded():
    assert suggest(RANDOM, [], 5, seed=7) == suggest(RANDOM, [], 5, seed=7)
    assert suggest(RANDOM, [], 5, seed=7) != suggest(RANDOM, [], 5, seed=8)


def test_random_search_matrix_seed_wins_over_the_argument():
    matrix = {**RANDOM, "seed": 3}
    assert suggest(matrix, [], 5, seed=7) == suggest(matrix, [], 5, seed=8)


def test_random_search_never_repeats_a_point_across_calls():
    found: list[dict] = []
    for _ in range(7):
        batch = suggest(RANDOM, [observed(p, "running") for p in found], 3, seed=1)
        found += batch
    assert len(found) == 20
    assert len({repr(sorted(p.items())) for p in found}) == 20


def test_random_search_caps_num_runs_at_a_discrete_space_size():
    matrix = {
        "kind": "random",
        "numRuns": 50,
        "params": {
            "a": {"kind": "choice", "value": [1, 2, 3]},
            "b": {"kind": "range", "value": [0, 2, 1]},
        },
    }
    found = suggest(matrix, [], 100, seed=0)
    assert sorted((p["a"], p["b"]) for p in found) == [(a, b) for a in (1, 2, 3) for b in (0, 1)]


def test_random_search_running_trials_are_not_suggested_again():
    running = [observed(p, "running") for p in suggest(RANDOM, [], 4, seed=2)]
    again = suggest(RANDOM, running, 4, seed=2)
    assert not {repr(sorted(o["params"].items())) for o in running} & {
        repr(sorted(p.items())) for p in again
    }


def test_mapping_gives_its_values_in_order_and_a_listed_twice_value_twice():
    matrix = {"kind": "mapping", "values": [{"a": 1}, {"a": 2}, {"a": 1}, {"a": 3}]}
    assert suggest(matrix, [], 10, seed=0) == [{"a": 1}, {"a": 2}, {"a": 1}, {"a": 3}]
    assert suggest(matrix, [observed({"a": 1}, "failed", None)], 10, seed=0) == [
        {"a": 2},
        {"a": 1},
        {"a": 3},
    ]


def test_random_search_draws_every_param_kind_within_its_bounds():
    matrix = {
        "kind": "random",
        "numRuns": 30,
        "params": {kind: spec for kind, (spec, _) in KINDS.items()},
    }
    for params in suggest(matrix, [], 30, seed=4):
        for kind, (_, fits) in KINDS.items():
            assert fits(params[kind]), f"drew {params[kind]!r} for {kind}"
