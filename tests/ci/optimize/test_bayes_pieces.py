"""The pieces of the bayes kind around its GP: log expected improvement and the targets' warp."""

from __future__ import annotations

import numpy as np

from ci.optimize.bayes import DEFAULT_UTILITY, acquisition, log_expected_improvement, warped


def test_log_expected_improvement_is_the_log_of_expected_improvement_where_that_is_finite():
    mean = np.linspace(-3.0, 2.0, 41)
    std = np.full_like(mean, 0.7)
    plain = acquisition(DEFAULT_UTILITY, mean, std, 0.5)
    assert np.allclose(log_expected_improvement(mean, std, 0.5, 0.0), np.log(plain), rtol=1e-9)


def test_log_expected_improvement_keeps_a_slope_far_below_the_best_where_ei_underflows():
    mean = -np.array([10.0, 20.0, 40.0, 80.0])
    std = np.ones(4)
    assert np.all(acquisition(DEFAULT_UTILITY, mean[2:], std[2:], 0.0) == 0.0)
    found = log_expected_improvement(mean, std, 0.0, 0.0)
    assert np.all(np.isfinite(found)) and np.all(np.diff(found) < 0)


def test_the_warp_keeps_the_targets_order_and_spreads_the_best_ones_apart():
    # A loss spanning orders of magnitude, maximized as its negation.
    y = -np.array([0.4, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 300.0])
    found = warped(y)
    assert np.all(np.argsort(found) == np.argsort(y))
    # The best two are a smaller share of the whole range before the warp than after.
    before = (y[0] - y[1]) / np.ptp(y)
    after = (found[0] - found[1]) / np.ptp(found)
    assert after > 5 * before


def test_the_warp_leaves_too_few_or_equal_targets_alone():
    assert np.all(warped(np.array([1.0, 2.0])) == [1.0, 2.0])
    assert np.all(warped(np.array([3.0, 3.0, 3.0])) == 3.0)
