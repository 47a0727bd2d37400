"""The ETA of a run: what is left of its total at the rate it has moved since it began."""

from __future__ import annotations

import pytest

from ci.reporting.eta import Point, eta_seconds, spoken
from ci.reporting.progress_line import line


def test_without_progress_there_is_no_eta():
    assert eta_seconds(None, None, 10) is None
    assert eta_seconds(Point(0, 1), None, 10) is None


def test_without_a_total_there_is_no_eta():
    assert eta_seconds(Point(0, 1), Point(60, 3), None) is None


def test_a_run_that_has_not_moved_yet_has_no_eta():
    assert eta_seconds(Point(0, 3), Point(60, 3), 10) is None
    assert eta_seconds(Point(60, 3), Point(60, 3), 10) is None
    assert eta_seconds(None, Point(60, 3), 10) is None


def test_a_finished_run_has_nothing_left():
    assert eta_seconds(Point(0, 1), Point(60, 10), 10) == 0.0
    assert eta_seconds(None, Point(60, 12), 10) == 0.0


def test_what_is_left_goes_at_the_rate_so_far():
    # 2 epochs in 120 s: the 7 left take 420 s.
    assert eta_seconds(Point(0, 1), Point(120, 3), 10) == pytest.approx(420.0)
    assert eta_seconds(Point(0, 0.1), Point(100, 0.3), 1.0) == pytest.approx(350.0)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "<1 min"), (20, "<1 min"), (240, "4 min"), (3599, "1 h 00 min"), (7500, "2 h 05 min")],
)
def test_an_eta_is_said_to_the_minute(seconds, said):
    assert spoken(seconds) == said


def test_a_progress_line_has_the_count_the_first_figures_and_the_eta():
    progress = {
        "fraction": 0.3,
        "current": 3.0,
        "total": 10.0,
        "unit": "epoch",
        "figures": {"loss": 0.2134, "accuracy": 0.8, "lr": 0.001, "momentum": 0.9},
        "at": "2026-12-05T10:02:00+00:00",
        "since": {"fraction": 0.1, "at": "2026-12-05T10:00:00+00:00"},
    }
    assert line(progress, {}) == "epoch 3/10 · loss 0.213 · accuracy 0.8 · lr 0.001 · ETA 7 min"


def test_a_fraction_without_a_count_is_a_percentage_and_a_first_point_has_no_eta():
    at = "2026-12-05T10:00:00+00:00"
    progress = {"fraction": 0.25, "figures": {}, "at": at, "since": {"fraction": 0.25, "at": at}}
    assert line(progress, {}) == "25%"


def test_a_run_that_never_said_its_progress_shows_its_latest_metric_step():
    metrics = {
        "loss": {"count": 12, "step": 120, "time": 0.0, "value": 0.21},
        "accuracy": {"count": 11, "step": 110, "time": 0.0, "value": "NaN"},
    }
    assert line(None, metrics) == "step 120 · accuracy NaN · loss 0.21"
    assert line(None, {}) == ""


def test_the_jobs_names_cannot_format_link_or_mention_in_a_report():
    at = "2026-12-05T10:00:00+00:00"
    progress = {
        "fraction": 0.5,
        "current": 1,
        "total": 2,
        "unit": "<!channel> *epoch*",
        "figures": {"[x](http://evil)": "@here `hi`", "val_loss": 0.5},
        "at": at,
    }
    assert line(progress, {}) == "channel epoch 1/2 · xhttp//evil here hi · val_loss 0.5"
