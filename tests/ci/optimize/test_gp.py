"""The Gaussian process of the bayes kind: its kernels, its fit, and its pending points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import check_grad

from ci.optimize.gp import GaussianProcess, _scaled, covariance, kernel


def test_matern_five_halves_has_its_closed_form_and_is_one_at_zero_distance():
    r = np.array([0.0, 0.5, 1.0, 2.0])
    s = math.sqrt(5.0) * r
    expected = (1.0 + s + s * s / 3.0) * np.exp(-s)
    assert np.allclose(covariance(r, "matern", 1.0, 2.5), expected)
    assert covariance(np.array([0.0]), "matern", 1.0, 2.5)[0] == 1.0


def test_a_kernel_with_one_length_scale_per_coordinate_stretches_each_coordinate_on_its_own():
    a = np.array([[0.0, 0.0]])
    b = np.array([[0.3, 0.0], [0.0, 0.3]])
    found = kernel(a, b, "matern", np.array([0.1, 10.0]), 2.5)[0]
    # Along the short coordinate 0.3 is three length scales; along the long one almost nothing.
    assert found[0] < 0.2 < 0.99 < found[1]
    assert np.allclose(
        kernel(a, b, "rbf", np.array([0.5, 0.5]), math.inf), kernel(a, b, "rbf", 0.5, math.inf)
    )


@pytest.mark.parametrize(("name", "nu"), [("matern", 2.5), ("matern", 1.5), ("rbf", math.inf)])
def test_the_likelihoods_gradient_is_the_exact_one(name, nu):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(25, 3))
    y = np.sin(6 * x[:, 0]) + x[:, 1] ** 2
    gp = GaussianProcess(name, nu=nu)
    gp._standardize(y)
    z = (y - gp.mean) / gp.scale
    squared = _scaled(x, x, np.ones(3))
    theta = np.array([-1.0, 0.2, 0.5, 0.1, -5.0])

    def value(t):
        return gp._loss(squared, z, t, True)[0]

    def gradient(t):
        return gp._loss(squared, z, t, True)[1]

    assert check_grad(value, gradient, theta) < 1e-4 * (1 + np.linalg.norm(gradient(theta)))


def test_the_fit_recovers_a_known_length_scale_per_coordinate():
    # Draws from a GP that varies on a scale of 0.15 along x0 and hardly at all along x1.
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(90, 2))
    truth = kernel(x, x, "matern", np.array([0.15, 5.0]), 2.5) + 1e-8 * np.eye(90)
    y = np.linalg.cholesky(truth) @ rng.standard_normal(90)
    gp = GaussianProcess()
    gp.fit(x, y, restarts=2, seed=0)
    assert 0.075 < gp.lengths[0] < 0.3
    assert gp.lengths[1] > 1.0
    assert gp.noise < 1e-2


def test_the_fit_interpolates_a_smooth_function_closely():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(40, 2))

    def f(p: np.ndarray) -> np.ndarray:
        return np.asarray(np.sin(4 * p[:, 0]) * np.cos(3 * p[:, 1]))

    gp = GaussianProcess()
    gp.fit(x, f(x))
    test = rng.uniform(size=(200, 2))
    mean, std = gp.predict(test)
    assert np.median(np.abs(mean - f(test))) < 0.02
    assert np.all(std > 0)


def test_a_pending_point_is_taken_as_noiseless_so_its_deviation_drops_to_about_zero():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(12, 1))
    y = np.sin(5 * x[:, 0]) + 0.1 * rng.standard_normal(12)  # noisy: the fit finds noise
    gp = GaussianProcess()
    gp.fit(x, y)
    point = np.array([[0.5]])
    believed = gp.predict(point)[0]
    before = gp.predict(point)[1][0]
    gp.condition(np.vstack([x, point]), np.append(y, believed), pending=1)
    mean, after = gp.predict(point)
    assert after[0] < 0.05 * before
    assert mean[0] == pytest.approx(believed[0], abs=1e-6)
