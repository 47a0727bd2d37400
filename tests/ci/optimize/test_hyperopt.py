"""The hyperopt kind through suggest(): tpe, rand and anneal on every param kind, with pending
and failed trials."""

from __future__ import annotations

import hyperopt
import numpy as np
import pytest
from pydantic import TypeAdapter

from ci.optimize import hyperopt_space, joint, parzen, suggest, tpe
from schemas.spec_matrix import V1Matrix
from tests.ci.optimize.kinds import KINDS

METRIC = {"name": "loss", "optimization": "minimize"}


def search(params: dict, algorithm: str = "tpe", num_runs: int = 100, **more) -> dict:
    return {
        "kind": "hyperopt",
        "algorithm": algorithm,
        "numRuns": num_runs,
        "metric": METRIC,
        "params": params,
        **more,
    }


def run(matrix: dict, objective, trials: int, seed: int = 0) -> list[dict]:
    observations: list[dict] = []
    for _ in range(trials):
        [params] = suggest(matrix, observations, 1, seed)
        observations.append({"params": params, "value": objective(params), "status": "succeeded"})
    return observations


@pytest.mark.parametrize("algorithm", ["tpe", "rand", "anneal"])
def test_every_param_kind_is_drawn_within_its_bounds(algorithm):
    matrix = search({kind: spec for kind, (spec, _) in KINDS.items()}, algorithm)
    # 25 trials take tpe past its 10 random start-up trials, into its own model.
    observations = run(matrix, lambda p: abs(p["uniform"]) + p["range"], 25)
    for observation in observations:
        for kind, (_, fits) in KINDS.items():
            value = observation["params"][kind]
            assert fits(value), f"{algorithm} drew {value!r} for {kind}"


def test_tpe_finds_the_minimum_of_a_quadratic():
    matrix = search({"x": {"kind": "uniform", "value": [-10, 10]}})
    observations = run(matrix, lambda p: (p["x"] - 3) ** 2, 40, seed=5)
    assert min(o["value"] for o in observations) < 0.1


def test_tpe_models_from_the_tenth_trial_on_not_hyperopts_twentieth():
    # Ten observations, nine bad ones below 0 and the best at x = 3: the 11th trial is drawn
    # from the model, away from the bad ones every time, where a random draw on [-10, 10] falls
    # below 0 half the time.
    matrix = search({"x": {"kind": "uniform", "value": [-10, 10]}})
    xs = [-9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 3.0]
    observations = [{"params": {"x": x}, "value": (x - 3) ** 2, "status": "succeeded"} for x in xs]
    drawn = [suggest(matrix, observations, 1, seed)[0]["x"] for seed in range(20)]
    assert all(x > 0 for x in drawn)


def test_a_maximized_metric_is_maximized():
    matrix = search(
        {"x": {"kind": "uniform", "value": [-10, 10]}},
        metric={"name": "accuracy", "optimization": "maximize"},
    )
    observations = run(matrix, lambda p: -((p["x"] + 4) ** 2), 40, seed=5)
    best = max(observations, key=lambda o: o["value"])
    assert abs(best["params"]["x"] + 4) < 0.5


def test_suggestions_are_seeded_per_trial_so_one_call_of_three_is_three_calls_of_one():
    matrix = search(
        {
            "x": {"kind": "uniform", "value": [0, 1]},
            "c": {"kind": "choice", "value": list(range(50))},
        }
    )
    at_once = suggest(matrix, [], 3, seed=9)
    one_by_one: list[dict] = []
    for _ in range(3):
        pending = [{"params": p, "value": None, "status": "running"} for p in one_by_one]
        one_by_one += suggest(matrix, pending, 1, seed=9)
    assert at_once == one_by_one


@pytest.mark.parametrize("algorithm", ["tpe", "rand", "anneal"])
def test_running_and_failed_points_are_never_suggested_again(algorithm):
    matrix = search({"c": {"kind": "choice", "value": list(range(6))}}, algorithm)
    observations = [{"params": {"c": c}, "value": float(c), "status": "succeeded"} for c in (0, 1)]
    observations += [{"params": {"c": 2}, "value": None, "status": "running"}]
    observations += [{"params": {"c": 3}, "value": None, "status": "failed"}]
    found = suggest(matrix, observations, 5, seed=0)
    assert sorted(p["c"] for p in found) == [4, 5]


def test_num_runs_times_max_iterations_bounds_the_search():
    matrix = search({"x": {"kind": "uniform", "value": [0, 1]}}, num_runs=2, maxIterations=2)
    observations = run(matrix, lambda p: p["x"], 3)
    assert len(suggest(matrix, observations, 5, seed=0)) == 1


def test_a_choice_of_lists_is_suggested_and_read_back():
    matrix = search({"shape": {"kind": "choice", "value": [[1, 2], [3, 4], [5, 6]]}})
    observations = [{"params": {"shape": [1, 2]}, "value": 1.0, "status": "succeeded"}]
    found = suggest(matrix, observations, 5, seed=0)
    assert sorted(p["shape"] for p in found) == [[3, 4], [5, 6]]


def test_a_quantized_distribution_gives_each_value_once_then_nothing():
    matrix = search({"q": {"kind": "quniform", "value": [0, 2, 1]}}, num_runs=10)
    observations = run(matrix, lambda p: p["q"], 3)
    assert sorted(o["params"]["q"] for o in observations) == [0, 1, 2]
    assert suggest(matrix, observations, 2, seed=0) == []


def test_searches_over_different_spaces_in_one_process_keep_their_own_space():
    narrow = search({"x": {"kind": "uniform", "value": [0, 1]}})
    other = search({"x": {"kind": "uniform", "value": [100, 101]}})
    first = suggest(narrow, [], 3, seed=1)
    assert all(100 <= p["x"] <= 101 for p in suggest(other, [], 3, seed=1))
    assert suggest(narrow, [], 3, seed=1) == first
    assert all(0 <= p["x"] <= 1 for p in first)


def test_tpe_draws_the_point_hyperopts_own_suggest_draws_from_the_same_trials():
    # ci.optimize.parzen evaluates hyperopt's TPE posterior without its Trials documents; for
    # the same trials (done, failed, pending), gamma and seed the point must be hyperopt's.
    space = {
        "x": {"kind": "uniform", "value": [-5, 5]},
        "lr": {"kind": "loguniform", "value": [-6, 0]},
        "opt": {"kind": "choice", "value": ["adam", "sgd", "rms"]},
    }
    found = hyperopt_space.labels(TypeAdapter(V1Matrix).validate_python(search(space)).params)
    domain = hyperopt.Domain(None, {f.label: hyperopt_space.expression(f) for f in found})
    rng = np.random.default_rng(3)
    trials = hyperopt.Trials()
    columns = parzen.Columns([f.label for f in found])
    for tid in range(30):
        values = {"x": rng.uniform(-5, 5), "lr": float(np.exp(rng.uniform(-6, 0))), "opt": tid % 3}
        loss = None if tid % 7 == 3 else values["x"] ** 2 + values["opt"]
        result = {"status": "new"} if loss is None else {"status": "ok", "loss": loss}
        misc = {"tid": tid, "cmd": None, "workdir": None}
        misc |= {"idxs": {k: [tid] for k in values}, "vals": {k: [v] for k, v in values.items()}}
        trials.insert_trial_docs(trials.new_trial_docs([tid], [None], [result], [misc]))
        columns.add(tid, loss, values)
    trials.refresh()
    posterior = parzen.Posterior(domain, prior_weight=1.0)

    for seed in range(5):
        gamma = tpe.tpe_gamma(30)
        theirs = hyperopt.tpe.suggest(
            [30], domain, trials, seed, n_startup_jobs=10, gamma=gamma, verbose=False
        )[0]["misc"]["vals"]
        assert posterior.suggest(columns, 30, seed, 10, 24, gamma) == theirs


def test_the_joint_tpe_counts_running_trials_and_its_own_batch_but_not_failed_ones(monkeypatch):
    # 20 finished, one failed and 4 running trials, then a batch of 3: each suggestion is drawn
    # with its candidates scaled by the share still running, the batch's earlier suggestions
    # among them; a failed trial has its result, so it does not count as running.
    seen: list[tuple[int, int]] = []
    counted = joint.candidates

    def spy(trials: int, running: int) -> int:
        seen.append((trials, running))
        return counted(trials, running)

    monkeypatch.setattr(joint, "candidates", spy)
    matrix = search({"x": {"kind": "uniform", "value": [0, 1]}})
    xs = np.linspace(0.02, 0.98, 25)
    observations = [{"params": {"x": x}, "value": x, "status": "succeeded"} for x in xs[:20]]
    observations += [{"params": {"x": xs[20]}, "value": None, "status": "failed"}]
    observations += [{"params": {"x": x}, "value": None, "status": "running"} for x in xs[21:]]
    assert len(suggest(matrix, observations, 3, seed=0)) == 3
    assert seen[0] == (25, 4) and seen[-1] == (27, 6)
    assert sorted(set(seen)) == [(25, 4), (26, 5), (27, 6)]
