"""A long series cut to what a chart can draw: min/max buckets.

The points are split into `most // 2` buckets of consecutive steps; each keeps its lowest and
its highest value, in step order, so a spike or a collapse survives however much is cut (an
average would hide it). The first and last points are always kept. A bucket of NaN only keeps
its first point, so a run that went NaN shows it.
"""

from __future__ import annotations

import numpy as np


def min_max(values: np.ndarray, most: int) -> np.ndarray:
    """Indices (ascending) of at most `most` of `values` to draw; all of them if they fit."""
    count = len(values)
    if count <= most:
        return np.arange(count)
    buckets = max(1, (most - 2) // 2)
    edges = np.linspace(1, count - 1, buckets + 1).astype(np.int64)
    keep = [0, count - 1]
    finite_or_inf = ~np.isnan(values)
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        if end <= start:
            continue
        window = values[start:end]
        usable = finite_or_inf[start:end]
        if not usable.any():
            keep.append(int(start))
            continue
        masked_low = np.where(usable, window, np.inf)
        masked_high = np.where(usable, window, -np.inf)
        keep.append(int(start + np.argmin(masked_low)))
        keep.append(int(start + np.argmax(masked_high)))
    return np.unique(np.array(keep, dtype=np.int64))
