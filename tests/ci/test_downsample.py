"""A long series cut for a chart: each stretch's lowest and highest value, in step order, the
first and last points always; NaN and infinities kept where they matter."""

from __future__ import annotations

import math

import numpy as np

from ci.runs.downsample import min_max


def test_a_series_that_fits_is_kept_whole():
    assert min_max(np.array([3.0, 1.0, 2.0]), 10).tolist() == [0, 1, 2]


def test_a_long_series_keeps_its_ends_and_every_extreme_in_order():
    values = np.sin(np.arange(10_000) / 50.0)
    values[4_321] = 9.0

    kept = min_max(values, 200)

    assert len(kept) <= 200
    assert kept[0] == 0 and kept[-1] == 9_999
    assert list(kept) == sorted(set(kept))
    assert 4_321 in kept
    assert values[kept].max() == 9.0 and math.isclose(values[kept].min(), -1.0, abs_tol=1e-3)


def test_a_stretch_of_nan_shows_and_infinities_count_as_extremes():
    values = np.ones(1_000)
    values[500:600] = np.nan
    values[100] = np.inf
    values[900] = -np.inf

    kept = min_max(values, 40)

    assert any(np.isnan(values[kept]))
    assert {100, 900} <= set(kept.tolist())
