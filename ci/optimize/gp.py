"""A Gaussian process regressor on numpy and scipy: Matérn or RBF kernel with one length scale
per coordinate (ARD), fitted by likelihood.

Targets are standardized. The kernel's length scales, its amplitude and the noise are fitted by
maximizing the log marginal likelihood plus a weak log prior on each (a posterior mode, as
Optuna's GPSampler fits its own): L-BFGS-B on the exact gradient (finite differences for a
Matérn other than 3/2 and 5/2) from the configured length scale and from `restarts` seeded
random points. Without the prior a few dozen points let a length scale run to a bound: a flat
model that explores nowhere, or a needle that never generalizes. Inputs are unit-cube
coordinates, so the bounds and priors mean the same for every param.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize
from scipy.special import gamma, kv

# Bounds on the fitted scales, in unit-cube coordinates and standardized targets.
LENGTH_BOUNDS = (1e-2, 1e2)
AMPLITUDE_BOUNDS = (1e-2, 1e2)
NOISE_BOUNDS = (1e-6, 1e-1)
JITTER = 1e-10
# Kernels whose gradient in the length scales is written out; others use finite differences.
EXACT = {("rbf", math.inf), ("matern", 1.5), ("matern", 2.5)}


def _scaled(a: np.ndarray, b: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per-coordinate squared differences over squared length scales, shape (len a, len b, d)."""
    diff = (a[:, None, :] - b[None, :, :]) / lengths
    return np.asarray(diff * diff)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def kernel(
    a: np.ndarray, b: np.ndarray, name: str, length: float | np.ndarray, nu: float
) -> np.ndarray:
    """k(a, b) for each pair of rows, of unit amplitude: RBF, or Matérn of smoothness nu; one
    length scale, or one per coordinate."""
    lengths = np.broadcast_to(np.asarray(length, dtype=float), (a.shape[1],))
    return covariance(distances(a / lengths, b / lengths), name, 1.0, nu)


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


def _slope(r: np.ndarray, name: str, nu: float) -> np.ndarray:
    """-(dk/dr)/r of the unit kernel: dk/d(log length_i) is this times (Δ_i/length_i)²."""
    if name == "rbf" or math.isinf(nu):
        return np.exp(-0.5 * r * r)
    if nu == 1.5:
        return 3.0 * np.exp(-math.sqrt(3.0) * r)
    s = math.sqrt(5.0) * r
    return (5.0 / 3.0) * (1.0 + s) * np.exp(-s)


def log_prior(lengths: np.ndarray, amplitude: float, noise: float) -> float:
    """Weak priors: each inverse squared length scale near 1 (the unit cube's own scale), the
    amplitude a gamma(2, 1) about the standardized targets' unit variance, the noise a gamma(1.1,
    30) that prefers interpolating a deterministic objective."""
    inverse = 1.0 / (lengths * lengths)
    return float(
        -np.sum(0.1 / inverse + 0.1 * inverse)
        + (math.log(amplitude) - amplitude)
        + (0.1 * math.log(noise) - 30.0 * noise)
    )


class GaussianProcess:
    def __init__(self, name: str = "matern", length: float = 1.0, nu: float = 2.5) -> None:
        self.name, self.nu = name, nu
        self.start = float(np.clip(length, *LENGTH_BOUNDS))
        self.lengths = np.array([self.start])
        self.amplitude = 1.0
        self.noise = 1e-4

    @property
    def length(self) -> float:
        """The geometric mean of the length scales."""
        return float(np.exp(np.mean(np.log(self.lengths))))

    def fit(self, x: np.ndarray, y: np.ndarray, restarts: int = 0, seed: int = 0) -> None:
        """Fit the scales on (x, y), then condition on them."""
        self._standardize(y)
        z = (y - self.mean) / self.scale
        squared = _scaled(x, x, np.ones(x.shape[1]))
        width = x.shape[1]
        rng = np.random.default_rng(seed)
        bounds = [np.log(LENGTH_BOUNDS)] * width + [
            np.log(AMPLITUDE_BOUNDS),
            np.log(NOISE_BOUNDS),
        ]
        starts = [np.array([math.log(self.start)] * width + [0.0, math.log(1e-4)])]
        starts += [
            np.concatenate([rng.uniform(-2.5, 1.0, width), [0.0], [rng.uniform(-12.0, -4.0)]])
            for _ in range(restarts)
        ]
        exact = (self.name, math.inf if self.name == "rbf" else self.nu) in EXACT
        best: tuple[float, np.ndarray] | None = None
        for start in starts:
            found = minimize(
                lambda t: self._loss(squared, z, t, exact), start, jac=exact,
                method="L-BFGS-B", bounds=bounds, options={"maxiter": 200},
            )  # fmt: skip
            if np.isfinite(found.fun) and (best is None or found.fun < best[0]):
                best = (float(found.fun), found.x)
        theta = best[1] if best is not None else starts[0]
        self._set(theta)
        self.condition(x, y)

    def condition(self, x: np.ndarray, y: np.ndarray, pending: int = 0) -> None:
        """Condition on (x, y) with the current scales (no refit). The last `pending` rows are
        points under way, taken as noiseless, so that the deviation there drops to about zero
        however noisy the fit found the observations."""
        self.x = x
        z = (y - self.mean) / self.scale
        noise = np.full(len(x), self.noise + JITTER)
        noise[len(x) - pending :] = NOISE_BOUNDS[0]
        k = self._kernel(x, x) + np.diag(noise)
        self.factor = cho_factor(k, lower=True)
        self.alpha = cho_solve(self.factor, z)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at each row of x, in the targets' units."""
        k = self._kernel(x, self.x)
        mean = k @ self.alpha
        v = solve_triangular(self.factor[0], k.T, lower=True)
        variance = np.maximum(self.amplitude - np.sum(v * v, axis=0), 1e-12)
        return mean * self.scale + self.mean, np.sqrt(variance) * self.scale

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.amplitude * kernel(a, b, self.name, self.lengths, self.nu)

    def _set(self, theta: np.ndarray) -> None:
        self.lengths = np.exp(theta[:-2])
        self.amplitude, self.noise = math.exp(theta[-2]), math.exp(theta[-1])

    def _standardize(self, y: np.ndarray) -> None:
        self.mean = float(np.mean(y))
        spread = float(np.std(y))
        self.scale = spread if spread > 0 else 1.0

    def _loss(
        self, squared: np.ndarray, z: np.ndarray, theta: np.ndarray, exact: bool
    ) -> float | tuple[float, np.ndarray]:
        """Minus the log marginal likelihood and log prior at theta (log length scales, log
        amplitude, log noise), with its gradient when `exact`."""
        lengths = np.exp(theta[:-2])
        amplitude, noise = math.exp(theta[-2]), math.exp(theta[-1])
        ratios = squared / (lengths * lengths)
        r = np.sqrt(np.sum(ratios, axis=2))
        unit = covariance(r, self.name, 1.0, self.nu)
        k = amplitude * unit + (noise + JITTER) * np.eye(len(z))
        try:
            lower, _ = cho_factor(k, lower=True)
        except np.linalg.LinAlgError:
            return (1e25, np.zeros_like(theta)) if exact else 1e25
        alpha = cho_solve((lower, True), z)
        log_det = 2.0 * np.sum(np.log(np.diag(lower)))
        value = -0.5 * z @ alpha - 0.5 * log_det - 0.5 * len(z) * math.log(2 * math.pi)
        value += log_prior(lengths, amplitude, noise)
        if not exact:
            return float(-value)
        inverse = cho_solve((lower, True), np.eye(len(z)))
        w = np.outer(alpha, alpha) - inverse
        slope = amplitude * _slope(r, self.name, self.nu)
        grad = np.empty_like(theta)
        grad[:-2] = 0.5 * np.einsum("ij,ijk->k", w * slope, ratios)
        grad[-2] = 0.5 * np.sum(w * unit) * amplitude
        grad[-1] = 0.5 * np.trace(w) * noise
        inverse_sq = 1.0 / (lengths * lengths)
        # d/dlog(length) of the length prior, then the amplitude's and the noise's.
        grad[:-2] += -0.2 / inverse_sq + 0.2 * inverse_sq
        grad[-2] += 1.0 - amplitude
        grad[-1] += 0.1 - 30.0 * noise
        return float(-value), -grad
