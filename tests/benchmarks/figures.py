"""Percentiles, spreads and ratios: the arithmetic behind every figure the benchmark prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it.

    No interpolation, so a p99 is always a latency that was actually observed (with 60
    samples, p99 is the maximum).
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is outside (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def spread(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    """Median with the smallest and largest value: how much the reps disagreed."""
    if not values:
        raise ValueError("spread of no values")
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def latency(values_ms: Sequence[float]) -> dict[str, float | int]:
    """p50 / p99 / max of latencies in milliseconds."""
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
    }


def ratio(numerator: float, denominator: float, digits: int = 3) -> float | None:
    """numerator / denominator, or None when the denominator is zero."""
    if not denominator:
        return None
    return round(numerator / denominator, digits)


def ratios(
    numerators: Sequence[float], denominators: Sequence[float]
) -> dict[str, float | None | list[float | None]]:
    """The ratio of the medians, and each rep's own ratio (rep i of one against rep i of
    the other, which ran a few seconds apart)."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError("ratios need two equally long, non-empty series")
    per_rep = [ratio(n, d) for n, d in zip(numerators, denominators, strict=True)]
    return {
        "of_medians": ratio(statistics.median(numerators), statistics.median(denominators)),
        "per_rep": per_rep,
    }
