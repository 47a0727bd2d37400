"""A Gaussian process regressor on numpy and scipy: Matérn or RBF kernel, fitted by likelihood.

Targets are standardized; the kernel's length scale (starting from `gaussianProcess.lengthScale`)
and a small noise are fitted by maximizing the log marginal likelihood, as sklearn's
GaussianProcessRegressor (which Polyaxon uses) does; `numRestartsOptimizer` adds seeded random
starting points. Inputs are unit-cube coordinates, so one isotropic length scale serves.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize_scalar
from scipy.special import gamma, kv

# Bounds on the fitted scales, in unit-cube coordinates and standardized targets.
LENGTH_BOUNDS = (1e-2, 1e1)
NOISE_BOUNDS = (1e-6, 1e-1)
NOISES = (1e-6, 1e-4, 1e-2)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def kernel(a: np.ndarray, b: np.ndarray, name: str, length: float, nu: float) -> np.ndarray:
    """k(a, b) for each pair of rows: RBF, or Matérn of smoothness nu."""
    return covariance(distances(a, b), name, length, nu)


def covariance(d: np.ndarray, name: str, length: float, nu: float) -> np.ndarray:
    r = d / length
    if name == "rbf" or math.isinf(nu):
        return np.exp(-0.5 * r * r)
    if nu == 0.5:
        return np.exp(-r)
    if nu == 1.5:
        s = math.sqrt(3.0) * r
        return (1.0 + s) * np.exp(-s)
    if nu == 2.5:
        s = math.sqrt(5.0) * r
        return (1.0 + s + s * s / 3.0) * np.exp(-s)
    s = np.maximum(math.sqrt(2.0 * nu) * r, 1e-12)
    found = (2.0 ** (1.0 - nu) / gamma(nu)) * s**nu * kv(nu, s)
    return np.where(r == 0.0, 1.0, found)


class GaussianProcess:
    def __init__(self, name: str = "matern", length: float = 1.0, nu: float = 1.5) -> None:
        self.name, self.nu = name, nu
        self.length = float(np.clip(length, *LENGTH_BOUNDS))
        self.noise = 1e-4

    def fit(self, x: np.ndarray, y: np.ndarray, restarts: int = 0, seed: int = 0) -> None:
        """Fit the scales on (x, y), then condition on them.

        The likelihood is scanned on a grid of length scales and noises (with the configured
        length scale and `restarts` seeded random pairs added), then the length scale is refined
        by a bounded Brent search: a two-parameter fit needs no gradient-based optimizer, and
        each L-BFGS-B iteration costs more than a likelihood here."""
        self._standardize(y)
        z = (y - self.mean) / self.scale
        d = distances(x, x)
        rng = np.random.default_rng(seed)
        low, high = np.log(LENGTH_BOUNDS)
        pairs = [(t, n) for t in np.linspace(low, high, 12) for n in np.log(NOISES)]
        pairs.append((math.log(self.length), math.log(self.noise)))
        pairs += [
            (rng.uniform(low, high), rng.uniform(*np.log(NOISE_BOUNDS))) for _ in range(restarts)
        ]
        scores = [self._likelihood(d, z, np.array(p)) for p in pairs]
        length, noise = pairs[int(np.argmax(scores))]
        step = (high - low) / 11
        found = minimize_scalar(
            lambda t: -self._likelihood(d, z, np.array([t, noise])),
            bounds=(max(low, length - step), min(high, length + step)),
            method="bounded",
            options={"xatol": 1e-2},
        )
        if -found.fun > max(scores):
            length = float(found.x)
        self.length, self.noise = math.exp(length), math.exp(noise)
        self.condition(x, y)

    def condition(self, x: np.ndarray, y: np.ndarray) -> None:
        """Condition on (x, y) with the current scales (no refit), e.g. to add pending points."""
        self.x = x
        z = (y - self.mean) / self.scale
        k = kernel(x, x, self.name, self.length, self.nu) + self.noise * np.eye(len(x))
        self.factor = cho_factor(k + 1e-10 * np.eye(len(x)), lower=True)
        self.alpha = cho_solve(self.factor, z)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at each row of x, in the targets' units."""
        k = kernel(x, self.x, self.name, self.length, self.nu)
        mean = k @ self.alpha
        v = solve_triangular(self.factor[0], k.T, lower=True)
        variance = np.maximum(1.0 - np.sum(v * v, axis=0), 1e-12)
        return mean * self.scale + self.mean, np.sqrt(variance) * self.scale

    def _standardize(self, y: np.ndarray) -> None:
        self.mean = float(np.mean(y))
        spread = float(np.std(y))
        self.scale = spread if spread > 0 else 1.0

    def _likelihood(self, d: np.ndarray, z: np.ndarray, theta: np.ndarray) -> float:
        length, noise = math.exp(theta[0]), math.exp(theta[1])
        k = covariance(d, self.name, length, self.nu) + (noise + 1e-10) * np.eye(len(d))
        try:
            lower, _ = cho_factor(k, lower=True)
        except np.linalg.LinAlgError:
            return -1e25
        alpha = cho_solve((lower, True), z)
        log_det = 2.0 * np.sum(np.log(np.diag(lower)))
        return float(-0.5 * z @ alpha - 0.5 * log_det - 0.5 * len(z) * math.log(2 * math.pi))
