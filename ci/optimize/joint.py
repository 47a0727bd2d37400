"""A multivariate TPE: one joint Parzen density over all of a search's params, as Optuna's
TPESampler builds by default, for spaces of bounded numeric params.

hyperopt's TPE models each param on its own, so a candidate's value of one param is drawn
without regard to the others: the good trials' points are not kept together. Here each good (and
bad) trial is one kernel over all params at once, a product of truncated normals, so candidates
are drawn near the good points themselves. As in Optuna 5 (samplers/_tpe/parzen_estimator.py):

- the good group is the best min(ceil(0.15·n), 25) of the n succeeded trials (GOOD_SHARE), the
  bad one the rest, with the failed and running trials (a running one as the worst, Optuna's
  constant liar, so a batch spreads out instead of piling on one point);
- each kernel's width on a param is the larger gap to its neighbours among the group's values,
  the outermost not widened to the bounds, clipped to the range over min(100, kernels + 1);
- a prior kernel (the middle of the range, the range as its width) of weight 1 joins each group;
- the candidate of highest log l(x) − log g(x) among those drawn from l wins.

The good group's kernels are weighed by how much each trial improves on the best of the bad
group (`improvements`, the expected-improvement weighting of Watanabe 2023, "Tree-structured
Parzen estimator: understanding its algorithm components"), not alike: the better a good
trial, the more candidates are drawn near it. Chosen on the tuning set against Optuna's TPE
(geometric mean of the median-regret ratios over the 12 cells, and the cells no worse): over 30
seeds 0.688 and 11 against 0.693 and 10 with flat weights, over 60 seeds 0.829 and 11 against
0.905 and 8; over 10 seeds 0.711 and 10 against 0.661 and 9 (7 of the 12 cells gained, the
mean lost on one whose median flips between two basins: Styblinski-Tang at concurrency 1).
Dropped there (30 seeds): its square root (0.725, 12 cells; 0.843 and 11 over 60), 1 + the
improvement over its mean (0.726, 11), scaled to a largest weight of 1 (0.765, 12), weights by
rank (0.747, 11; 0.857 over 60), a share of the candidates drawn uniformly (0.774-0.818),
Scott's rule per group and param (0.861-0.933), candidates drawn with wider or narrower kernels
than they are scored with (0.81-1.15), other floors under the widths (0.77-2.47) and a Sobol
draw of the candidates (0.907): README.md, "Benchmarks", lists each.

Three settings differ from Optuna's, chosen on the tuning set (tests/benchmarks/objectives.py, 10
seeds, 12 cells, median regret, geometric mean): 64 candidates, not 24 (0.72 times the regret,
better in 9 of the 12 cells; 32, 128 and 256 gained less), and with them a good group of 15% of
the trials, not 10% (0.88 times again, better in 5 of the 12, all 6 at concurrency 1 better than
Optuna's TPE; 0.71 times Optuna's TPE's regret over the 12). Each of these lost there: a good
group of 20% (1.19 times), a prior weight of 0.5 (1.03), one width for every kernel
(0.2·n^(-1/(d+4)) of the range, older Optuna's multivariate rule: 1.49) and a Sobol sequence for
the start-up trials (1.28, over 5 seeds).

The third is for concurrency: CANDIDATES is scaled by the share of the trials that have a result
(candidates()), so with 7 of 20 trials running a suggestion is the best of 42 draws. Believed
worst, a running trial lowers g's density near it by one kernel among all the bad ones; with 64
candidates and a good group of 15% a batch's suggestions still gathered near one optimum.
Chosen on the tuning set's 6 cells at concurrency 8 (concurrency 1 has no running trial, so its
cells are unchanged): 0.85 times Optuna's TPE's median regret over 30 seeds (geometric mean),
better in 5 of 6, against 0.95 and 3 of 6 with 64 candidates throughout. Dropped there: 24
candidates whenever a trial runs (1.00), 64 × the share's square root (0.90), 64 / (1 + running)
(1.21), as many candidates as finished trials, 24 to 64 (0.96), the good group counted
on all the trials, running ones too (1.25 over 10 seeds), and the running kernels weighed in g
as heavily as a good one is in l, or a quarter of that (a local penalisation: 0.97, 0.90; with
the scaling, 0.89).

log-scaled params are modelled on their logarithm; a quantized one is rounded to its step after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri

GOOD_SHARE = 0.15
GOOD_MAX = 25
CANDIDATES = 64
PRIOR_WEIGHT = 1.0
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Bounds:
    """One param's range in the coordinates it is modelled in (its logarithm when `log`)."""

    low: float
    high: float
    log: bool = False
    q: float | None = None

    def inward(self, value: float) -> float:
        return math.log(value) if self.log else value

    def outward(self, value: float) -> float:
        found = math.exp(value) if self.log else value
        if self.q:
            found = round(found / self.q) * self.q
        return found


def good_count(n: int) -> int:
    return min(math.ceil(GOOD_SHARE * n), GOOD_MAX)


def weights(n: int) -> np.ndarray:
    """Optuna's: flat up to 25 points, then older points weigh less, down to 1/n."""
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)])


@dataclass(frozen=True)
class Mixture:
    """Truncated normal kernels: `mus` and `sigmas` are (kernels, params), `weights` adds to 1."""

    mus: np.ndarray
    sigmas: np.ndarray
    weights: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        chosen = rng.choice(len(self.weights), size=size, p=self.weights)
        mus, sigmas = self.mus[chosen], self.sigmas[chosen]
        a, b = ndtr((self.low - mus) / sigmas), ndtr((self.high - mus) / sigmas)
        u = a + rng.uniform(size=mus.shape) * (b - a)
        found = mus + sigmas * ndtri(np.clip(u, 1e-12, 1 - 1e-12))
        return np.asarray(np.clip(found, self.low, self.high))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        mass = _log_mass((self.low - self.mus) / self.sigmas, (self.high - self.mus) / self.sigmas)
        constant = -np.sum(LOG_SQRT_2PI + np.log(self.sigmas) + mass, axis=1)
        # Σ_j ((x_j − μ_kj)/σ_kj)² as matrix products, not a (points, kernels, params) array:
        # at a thousand trials that array was most of a suggestion's time. In unit coordinates,
        # so that a range far from zero loses no precision to the expanded square.
        span = self.high - self.low
        u, mus = (x - self.low) / span, (self.mus - self.low) / span
        inverse = span * span / (self.sigmas * self.sigmas)
        squared = (
            (u * u) @ inverse.T
            - 2.0 * u @ (mus * inverse).T
            + np.sum(mus * mus * inverse, axis=1)[None]
        )
        with np.errstate(divide="ignore"):  # a good trial no better than the bad group's best
            log_weights = np.log(self.weights)
        each = -0.5 * np.maximum(squared, 0.0) + constant[None] + log_weights[None]
        return np.asarray(logsumexp(each, axis=1))


def _log_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Φ(b) − Φ(a)) for a < b, kept accurate in either tail."""
    upper = a > 0
    lo, hi = np.where(upper, -b, a), np.where(upper, -a, b)
    return np.asarray(
        log_ndtr(hi) + np.log1p(-np.exp(np.minimum(log_ndtr(lo) - log_ndtr(hi), -1e-12)))
    )


def improvements(losses: np.ndarray, threshold: float | None) -> np.ndarray:
    """The good group's kernel weights: each trial's improvement on the best of the bad group
    (its expected-improvement share, Watanabe 2023), scaled to a mean of 1 so that the prior
    keeps its weight beside them. Flat when there is no improvement to share out."""
    if threshold is None or not math.isfinite(threshold):
        return np.ones(len(losses))
    gains = np.maximum(threshold - losses, 0.0)
    total = gains.sum()
    if not total > 0.0:
        return np.ones(len(losses))
    return np.asarray(gains * (len(gains) / total))


def mixture(
    points: np.ndarray, low: np.ndarray, high: np.ndarray, kernel_weights: np.ndarray | None = None
) -> Mixture:
    """The Parzen density of `points` (rows) with its prior kernel; the kernels weigh
    `kernel_weights` (Optuna's ramp by age when None)."""
    span = high - low
    n = len(points)
    sigmas = np.empty_like(points)
    for j in range(points.shape[1]):
        order = np.argsort(points[:, j])
        ranked = np.concatenate([[low[j]], points[order, j], [high[j]]])
        gaps = np.maximum(ranked[1:-1] - ranked[:-2], ranked[2:] - ranked[1:-1])
        if len(ranked) >= 4:
            gaps[0], gaps[-1] = ranked[2] - ranked[1], ranked[-2] - ranked[-3]
        sigmas[order, j] = gaps
    sigmas = np.clip(sigmas, span / min(100.0, n + 2.0), span)
    w = np.append(weights(n) if kernel_weights is None else kernel_weights, PRIOR_WEIGHT)
    return Mixture(
        np.vstack([points, (low + high) / 2.0]),
        np.vstack([sigmas, span]),
        w / w.sum(),
        low,
        high,
    )


def candidates(trials: int, running: int) -> int:
    """CANDIDATES scaled by the share of the trials that have a result: the running ones are
    believed worst (the constant liar), which pushes a suggestion away from their points only
    a little when the good group is narrow, so a batch's suggestions were drawn near the same
    optimum. Fewer candidates make a suggestion follow l(x) less greedily as that share grows."""
    if trials == 0:
        return CANDIDATES
    return max(1, round(CANDIDATES * (trials - running) / trials))


def suggest(
    bounds: Sequence[Bounds],
    points: np.ndarray,
    losses: Sequence[float],
    seed: int,
    running: int = 0,
) -> list[float]:
    """One point, given the trials' `points` (rows, one column per param, in the params' own
    units), `losses` (inf for a failed or running trial) and how many of them are `running`."""
    low = np.array([b.inward(b.low) for b in bounds])
    high = np.array([b.inward(b.high) for b in bounds])
    inner = np.array(
        [[b.inward(float(v)) for b, v in zip(bounds, row, strict=True)] for row in points]
    )
    inner = inner.reshape(len(points), len(bounds))
    values = np.asarray(losses, dtype=float)
    done = np.flatnonzero(np.isfinite(values))
    ranked = done[np.argsort(values[done], kind="stable")]
    count = good_count(len(done))
    good = np.sort(ranked[:count])  # in trial order, as the weights read them
    bad = np.setdiff1d(np.arange(len(values)), good)
    threshold = float(values[ranked[count]]) if len(ranked) > count else None
    rng = np.random.default_rng(seed)
    gains = improvements(values[good], threshold)
    below, above = mixture(inner[good], low, high, gains), mixture(inner[bad], low, high)
    drawn = below.sample(rng, candidates(len(values), running))
    score = below.log_pdf(drawn) - above.log_pdf(drawn)
    best = drawn[int(np.argmax(score))]
    return [b.outward(float(v)) for b, v in zip(bounds, best, strict=True)]
