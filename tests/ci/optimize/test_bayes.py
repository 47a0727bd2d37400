"""The bayes kind: a Gaussian process that beats random search, and never suggests a point twice."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from ci.optimize import bayes as bayes_kind
from ci.optimize import suggest
from ci.optimize.bayes import WINDOW, _maximize, acquisition
from ci.optimize.gp import GaussianProcess
from ci.optimize.space import Cube
from schemas.spec_matrix import V1Matrix
from tests.ci.optimize.kinds import KINDS

MINIMIZE = {"name": "loss", "optimization": "minimize"}
X = {"x": {"kind": "uniform", "value": [-5, 5]}}


def bayes(params: dict = X, utility: dict | None = None, **more) -> dict:
    return {
        "kind": "bayes",
        "numInitialRuns": 3,
        "maxIterations": 9,
        "metric": MINIMIZE,
        "params": params,
        "utilityFunction": utility or {"acquisitionFunction": "ei", "eps": 0.0},
        **more,
    }


def run(matrix: dict, objective, seed: int) -> list[dict]:
    observations: list[dict] = []
    while found := suggest(matrix, observations, 1, seed):
        [params] = found
        observations.append({"params": params, "value": objective(params), "status": "succeeded"})
    return observations


def quadratic(params: dict) -> float:
    return (params["x"] - 1.234) ** 2


def test_bayes_beats_random_search_on_a_quadratic_with_the_same_budget():
    for seed in (0, 1, 2):
        guided = run(bayes(), quadratic, seed)
        random = run({"kind": "random", "numRuns": 12, "params": X}, quadratic, seed)
        assert len(guided) == len(random) == 12
        best = min(o["value"] for o in guided)
        assert best < 1e-2
        assert best < min(o["value"] for o in random)


@pytest.mark.parametrize(
    "utility",
    [
        {"acquisitionFunction": "ucb", "kappa": 2.5},
        # poi with a small eps creeps from the best point by tiny steps, as it should.
        {"acquisitionFunction": "poi", "eps": 1.0},
        {"acquisitionFunction": "ei", "eps": 0.0, "gaussianProcess": {"kernel": "rbf"}},
        {
            "acquisitionFunction": "ei",
            "eps": 0.0,
            "gaussianProcess": {"kernel": "matern", "nu": 2.5, "numRestartsOptimizer": 2},
        },
    ],
)
def test_every_acquisition_and_kernel_closes_in_on_the_minimum(utility):
    # A seed whose initial runs land well away from the minimum, so there is something to close.
    observations = run(bayes(utility=utility), quadratic, seed=1)
    initial = min(o["value"] for o in observations[:3])
    assert initial > 0.5
    assert min(o["value"] for o in observations[3:]) < min(0.1, initial / 100)


def test_a_maximized_metric_is_maximized():
    matrix = bayes(metric={"name": "accuracy", "optimization": "maximize"})
    observations = run(matrix, lambda p: -quadratic(p), seed=0)
    assert max(o["value"] for o in observations) > -1e-2


LISTED = {
    "c": {"kind": "choice", "value": ["a", "b", "c"]},
    "k": {"kind": "range", "value": [0, 4, 1]},
}


SQUARE = {"a": {"kind": "uniform", "value": [0, 4]}, "b": {"kind": "uniform", "value": [0, 4]}}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_initial_runs_cover_the_space_one_in_each_cell_of_a_grid(seed):
    found = suggest(bayes(SQUARE, numInitialRuns=16), [], 16, seed=seed)
    cells = sorted((int(p["a"]), int(p["b"])) for p in found)
    assert cells == [(i, j) for i in range(4) for j in range(4)]


def test_the_initial_runs_are_fixed_by_the_seed_then_it_waits_for_them():
    initial = suggest(bayes(), [], 10, seed=4)
    assert len(initial) == 3
    assert initial == suggest(bayes(), [], 3, seed=4)
    assert initial != suggest(bayes(), [], 3, seed=5)
    # One at a time, each told as running, gives the same points as one call for three.
    running: list[dict] = []
    for _ in range(3):
        running += [
            {"params": p, "value": None, "status": "running"}
            for p in suggest(bayes(), running, 1, seed=4)
        ]
    assert [o["params"] for o in running] == initial
    assert suggest(bayes(), running, 10, seed=4) == []


def test_initial_runs_on_a_listable_space_are_distinct_combinations():
    # 12 combinations: the design decodes some of its 12 points to one, random draws fill in.
    matrix = bayes(LISTED, numInitialRuns=12, maxIterations=1)
    found = suggest(matrix, [], 12, seed=0)
    assert len({(p["c"], p["k"]) for p in found}) == 12


def test_a_search_whose_initial_runs_all_failed_draws_again_at_random():
    failed = [{"params": p, "value": None, "status": "failed"} for p in suggest(bayes(), [], 3, 0)]
    again = suggest(bayes(), failed, 2, seed=0)
    assert len(again) == 2 and not {p["x"] for p in again} & {o["params"]["x"] for o in failed}


def test_pending_and_failed_points_are_never_suggested_again_until_the_space_runs_out():
    matrix = bayes(LISTED, maxIterations=100)
    observations = [
        {"params": {"c": c, "k": k}, "value": float(k), "status": "succeeded"}
        for c in ("a", "b")
        for k in range(4)
    ]
    observations.append({"params": {"c": "c", "k": 0}, "value": None, "status": "running"})
    observations.append({"params": {"c": "c", "k": 1}, "value": None, "status": "failed"})
    found = suggest(matrix, observations, 5, seed=0)
    assert sorted((p["c"], p["k"]) for p in found) == [("c", 2), ("c", 3)]


def test_a_batch_spreads_out_instead_of_piling_on_one_point():
    observations = [
        {"params": {"x": x}, "value": quadratic({"x": x}), "status": "succeeded"}
        for x in (-4.0, -1.0, 2.0, 4.0)
    ]
    batch = suggest(bayes(), observations, 4, seed=0)
    xs = sorted(p["x"] for p in batch)
    assert len(batch) == 4
    assert min(b - a for a, b in zip(xs, xs[1:], strict=False)) > 1e-3


def test_failed_trials_count_as_the_worst_value_so_the_search_leaves_their_region():
    # Everything right of 0 failed: the suggestion stays left, near the best seen.
    observations = [
        {"params": {"x": x}, "value": quadratic({"x": x}), "status": "succeeded"}
        for x in (-4.5, -3.0, -1.5, -0.5)
    ]
    observations += [
        {"params": {"x": x}, "value": None, "status": "failed"} for x in (0.5, 1.5, 2.5, 3.5, 4.5)
    ]
    [found] = suggest(bayes(maxIterations=20), observations, 1, seed=0)
    assert found["x"] < 0.5


def test_max_iterations_ends_the_search():
    observations = run(bayes(maxIterations=2), quadratic, seed=0)
    assert len(observations) == 5


def test_beyond_the_window_the_search_still_suggests():
    observations = [
        {"params": {"x": -5 + 10 * i / (WINDOW + 50)}, "value": float(i % 7), "status": "succeeded"}
        for i in range(WINDOW + 50)
    ]
    [found] = suggest(bayes(maxIterations=10_000), observations, 1, seed=0)
    assert -5 <= found["x"] <= 5


def test_every_kind_bayes_takes_is_suggested_within_its_bounds():
    taken = ("choice", "range", "daterange", "datetimerange", "linspace", "logspace", "geomspace")
    params = {kind: KINDS[kind][0] for kind in (*taken, "uniform")}
    observations = run(bayes(params, maxIterations=4), lambda p: p["uniform"] ** 2 + p["range"], 0)
    assert len(observations) == 7
    for observation in observations:
        for kind in params:
            value = observation["params"][kind]
            assert KINDS[kind][1](value), f"suggested {value!r} for {kind}"


@pytest.mark.parametrize(
    "utility",
    [
        {"acquisitionFunction": "ucb", "kappa": 2.576},
        {"acquisitionFunction": "ei", "eps": 0.0},
        {"acquisitionFunction": "poi", "eps": 0.01},
    ],
)
def test_the_acquisition_is_maximized_from_several_starts_not_only_sampled(utility):
    # With 8 random warm-up points, sampling alone lands off the acquisition's peak; the
    # L-BFGS-B starts from the best of them and from the best point seen climb onto it.
    spec = TypeAdapter(V1Matrix).validate_python(
        bayes(utility={**utility, "numWarmup": 8, "numIterations": 2})
    )
    cube = Cube(spec.params)
    x = np.array([[0.05], [0.3], [0.55], [0.62], [0.9]])
    y = -np.array([quadratic(cube.decode(p)) for p in x])
    gp = GaussianProcess()
    gp.fit(x, y)
    dense = np.linspace(0, 1, 20_001).reshape(-1, 1)
    mean, std = gp.predict(dense)
    peak = float(np.max(acquisition(spec.utility_function, mean, std, float(np.max(y)))))
    rng = np.random.default_rng(0)
    found = _maximize(spec, gp, cube, float(np.max(y)), x, y, set(), ["x"], rng)
    assert found is not None
    mean, std = gp.predict(cube.encode(found).reshape(1, -1))
    reached = float(acquisition(spec.utility_function, mean, std, float(np.max(y)))[0])
    assert reached >= peak - 1e-6 * max(1.0, abs(peak))


def test_without_a_utility_function_the_acquisition_is_expected_improvement_on_warped_targets(
    monkeypatch,
):
    observations = [
        {"params": {"x": x}, "value": quadratic({"x": x}), "status": "succeeded"}
        for x in (-4.0, -1.0, 2.0, 4.0)
    ]
    default = {k: v for k, v in bayes().items() if k != "utilityFunction"}
    ei = bayes(utility={"acquisitionFunction": "ei", "eps": 0.0})
    ucb = bayes(utility={"acquisitionFunction": "ucb", "kappa": 2.576})
    assert suggest(default, observations, 2, seed=3) != suggest(ucb, observations, 2, seed=3)
    # The warp is all that sets it apart from an explicit ei with eps 0.
    assert suggest(default, observations, 2, seed=3) != suggest(ei, observations, 2, seed=3)
    monkeypatch.setattr(bayes_kind, "WARP", False)
    assert suggest(default, observations, 2, seed=3) == suggest(ei, observations, 2, seed=3)
