"""Early stopping rules as pure decisions, each with a reason naming the rule and the values."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from ci.optimize.early_stopping import failures_reached, metric_reached, policy_stops
from schemas.spec_early_stopping import V1EarlyStopping

RULE: TypeAdapter = TypeAdapter(V1EarlyStopping)


def rule(**spec):
    return RULE.validate_python(spec)


def test_the_search_stops_once_a_run_reaches_the_metric_threshold():
    loss = rule(metric="loss", value=0.1, optimization="minimize")
    going = metric_reached(loss, {"a": [(1, 0.5), (2, 0.3)], "b": [(1, 0.4)]})
    assert not going.stop
    assert going.reason == "metric early stopping: no run has loss <= 0.1"
    done = metric_reached(loss, {"a": [(1, 0.5), (2, 0.08)], "b": [(1, 0.4)]})
    assert done.stop
    assert done.reason == "metric early stopping: run a reported loss = 0.08 at step 2, <= 0.1"


def test_a_maximized_threshold_is_reached_from_below():
    accuracy = rule(metric="accuracy", value=0.9, optimization="maximize")
    assert metric_reached(accuracy, {"a": [(3, 0.95)]}).stop
    assert not metric_reached(accuracy, {"a": [(3, 0.85)]}).stop


def test_the_failure_rule_reads_percent_as_a_percentage():
    half = rule(percent=50)
    statuses = {"a": "failed", "b": "succeeded", "c": "running", "d": "failed"}
    decision = failures_reached(half, statuses)
    assert decision.stop
    assert decision.reason == "failure early stopping: 2 of 4 runs failed (50%), which reaches 50%"
    assert not failures_reached(rule(percent=60), statuses).stop
    # 0.5 is half a percent: one failure in a hundred runs is over it.
    many = {str(i): "succeeded" for i in range(99)} | {"x": "failed"}
    assert failures_reached(rule(percent=0.5), many).stop


def median(**more):
    policy = {"kind": "median", "evaluationInterval": 2, **more}
    return rule(metric="loss", value=0, optimization="minimize", policy=policy)


CURVES = {
    "good": [(2, 0.5), (4, 0.3)],
    "fair": [(2, 0.6), (4, 0.5)],
    "poor": [(2, 0.9), (4, 0.8)],
}


def test_median_stops_a_run_whose_best_is_worse_than_the_others_running_averages_median():
    decisions = policy_stops(median(), CURVES)
    assert decisions["poor"].stop
    assert decisions["poor"].reason == (
        "median stopping of loss: run poor's best 0.8 by step 4 is worse than the median 0.475 "
        "of 2 other runs' running averages"
    )
    assert not decisions["good"].stop


def test_a_policy_judges_only_at_evaluation_intervals_after_the_minimum_interval():
    odd = {**CURVES, "poor": [(2, 0.9), (3, 0.85)]}
    assert (
        "not a multiple of the evaluation interval 2" in policy_stops(median(), odd)["poor"].reason
    )
    early = policy_stops(median(minInterval=6), CURVES)["poor"]
    assert not early.stop
    assert early.reason == "median stopping of loss: step 4 is before the minimum interval 6"


def test_a_policy_waits_for_min_samples_other_runs():
    decision = policy_stops(median(minSamples=3), CURVES)["poor"]
    assert not decision.stop
    assert "2 other runs reported by step 4, fewer than the 3 needed" in decision.reason


def test_truncation_stops_the_worst_percent_at_each_evaluation():
    truncation = rule(
        metric="accuracy",
        value=1,
        optimization="maximize",
        policy={"kind": "truncation", "percent": 50, "evaluationInterval": 1},
    )
    curves = {"a": [(1, 0.9)], "b": [(1, 0.8)], "c": [(1, 0.4)], "d": [(1, 0.3)]}
    decisions = policy_stops(truncation, curves)
    assert {run for run, d in decisions.items() if d.stop} == {"c", "d"}
    assert decisions["c"].reason == (
        "truncation stopping of accuracy: run c's 0.4 at step 1 is among the worst 50% "
        "(2 of 4 runs; 2 are better)"
    )


def test_diff_stops_runs_worse_than_the_best_by_more_than_percent():
    diff = rule(
        metric="loss",
        value=0,
        optimization="minimize",
        policy={"kind": "diff", "percent": 20, "evaluationInterval": 1},
    )
    curves = {"best": [(1, 1.0)], "close": [(1, 1.1)], "far": [(1, 1.5)]}
    decisions = policy_stops(diff, curves)
    assert not decisions["close"].stop
    assert decisions["far"].stop
    assert decisions["far"].reason == (
        "diff stopping of loss: run far's best 1.5 by step 1 is more than 20% (0.2) worse than "
        "the best 1"
    )


def test_a_metric_rule_without_a_policy_stops_the_search_not_runs():
    with pytest.raises(ValueError, match="stops the search, not runs"):
        policy_stops(rule(metric="loss", value=0.1, optimization="minimize"), CURVES)
