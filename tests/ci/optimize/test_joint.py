"""The joint (multivariate) Parzen density of the hyperopt kind's tpe."""

from __future__ import annotations

import math

import numpy as np

from ci.optimize import joint
from ci.optimize.joint import Bounds


def test_the_good_group_is_15_percent_of_the_trials_rounded_up_at_most_25():
    assert [joint.good_count(n) for n in (1, 6, 10, 60, 1000)] == [1, 1, 2, 9, 25]


def test_older_trials_weigh_less_once_there_are_more_than_25():
    assert np.all(joint.weights(20) == 1.0)
    found = joint.weights(40)
    assert found[0] == 1.0 / 40 and np.all(found[-25:] == 1.0) and np.all(np.diff(found) >= 0)


def test_a_good_trial_weighs_as_much_as_it_improves_on_the_best_bad_one_the_mean_weight_one():
    found = joint.improvements(np.array([0.1, 0.4, 0.3]), threshold=0.5)
    assert np.allclose(found, [0.4, 0.1, 0.2] / np.float64(0.7 / 3))
    assert math.isclose(found.mean(), 1.0)


def test_good_trials_weigh_alike_when_there_is_no_improvement_to_share():
    assert np.all(joint.improvements(np.array([0.5, 0.5]), threshold=0.5) == 1.0)
    assert np.all(joint.improvements(np.array([0.1, 0.2]), threshold=None) == 1.0)
    assert np.all(joint.improvements(np.array([0.1]), threshold=math.inf) == 1.0)


def test_candidates_are_drawn_near_the_best_good_trial_most():
    # Three good trials in far corners; the first is much the best.
    points = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]] + [[0.5, 0.5]] * 17)
    losses = [0.0, 0.9, 0.9] + [1.0] * 17
    density = joint.mixture(
        points[:3], np.zeros(2), np.ones(2), joint.improvements(np.array(losses[:3]), 1.0)
    )
    drawn = density.sample(np.random.default_rng(3), 2000)
    near = [int(np.sum(np.linalg.norm(drawn - p, axis=1) < 0.15)) for p in points[:3]]
    assert near[0] > 3 * max(near[1], near[2])


def test_the_density_integrates_to_one_over_the_bounds():
    rng = np.random.default_rng(0)
    points = rng.uniform(size=(7, 2))
    density = joint.mixture(points, np.zeros(2), np.ones(2))
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 201)] * 2), axis=-1).reshape(-1, 2)
    mass = np.exp(density.log_pdf(grid)).mean()
    assert math.isclose(mass, 1.0, rel_tol=0.02)


def test_the_density_of_a_narrow_range_far_from_zero_integrates_to_one_too():
    rng = np.random.default_rng(1)
    low, high = np.full(2, 1000.0), np.full(2, 1000.001)
    density = joint.mixture(rng.uniform(low, high, size=(7, 2)), low, high)
    axes = [np.linspace(1000.0, 1000.001, 201)] * 2
    grid = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    mass = np.exp(density.log_pdf(grid)).mean() * float(np.prod(high - low))
    assert math.isclose(mass, 1.0, rel_tol=0.02)


def test_candidates_keep_the_good_points_params_together():
    # Two good points on the diagonal, the bad ones on the other diagonal: a density per param
    # would mix the good points' coordinates (0.1, 0.9) as often as not; the joint one does not.
    good = [[0.1, 0.1], [0.9, 0.9]]
    bad = [[0.1 + 0.08 * i, 0.9 - 0.08 * i] for i in range(11)]
    points = np.array(good + bad)
    losses = [0.0, 0.0] + [1.0] * len(bad)
    bounds = [Bounds(0.0, 1.0), Bounds(0.0, 1.0)]
    drawn = [joint.suggest(bounds, points, losses, seed) for seed in range(20)]
    assert all(abs(x - y) < 0.3 for x, y in drawn)


def test_a_log_scaled_and_quantized_param_stays_in_its_bounds_on_its_steps():
    bounds = [Bounds(1e-5, 1e-1, log=True), Bounds(0.0, 10.0, q=0.5)]
    rng = np.random.default_rng(1)
    points = np.column_stack([np.exp(rng.uniform(math.log(1e-5), math.log(1e-1), 15)),
                              rng.integers(0, 21, 15) * 0.5])  # fmt: skip
    losses = list(rng.uniform(size=15))
    for seed in range(10):
        rate, steps = joint.suggest(bounds, points, losses, seed)
        assert 1e-5 <= rate <= 1e-1
        assert 0.0 <= steps <= 10.0 and steps * 2 == round(steps * 2)


def test_running_and_failed_trials_join_the_bad_group_so_the_search_leaves_them():
    # One good point at 0.5 and a running trial right beside it: the next draw is pushed away
    # from the running one, to the good point's other side.
    points = np.array([[0.5], [0.56]] + [[v] for v in (0.05, 0.15, 0.85, 0.95)] * 3)
    losses = [0.0, math.inf] + [1.0] * 12
    drawn = [joint.suggest([Bounds(0.0, 1.0)], points, losses, seed)[0] for seed in range(20)]
    assert sum(x < 0.5 for x in drawn) > sum(x > 0.56 for x in drawn)


def test_the_candidates_shrink_with_the_share_of_trials_still_running():
    assert joint.candidates(40, 0) == joint.CANDIDATES
    assert joint.candidates(40, 10) == round(joint.CANDIDATES * 0.75)
    assert joint.candidates(16, 8) == joint.CANDIDATES // 2
    assert joint.candidates(8, 8) == 1
    assert joint.candidates(0, 0) == joint.CANDIDATES
