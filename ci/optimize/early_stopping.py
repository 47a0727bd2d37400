"""Early stopping rules as pure functions over the metrics the runs have reported.

`metrics` maps a run to its reports of the rule's metric as (step, value) pairs; `statuses` maps
a run to its status. Every Decision names its rule and the values it compared.

- metric (no policy): the whole search stops once a run reports `value` or better.
- metric with a policy: only the runs the policy picks stop. A run is judged at its latest step
  when that step is a multiple of `evaluationInterval` and at least `minInterval`, and only
  against at least `minSamples` other runs that have reported by that step:
  median (Vizier's rule): its best so far is worse than the median of the others' running
    averages up to that step;
  truncation: its value at that step is among the worst `percent` percent of all the runs'
    values at that step (the others' latest by then);
  diff: its best so far is worse than the others' best by more than `percent` percent of it.
- failure: the whole search stops once `percent` percent of its runs have failed (Polyaxon
  reads `percent: 30` as thirty percent, so 0.5 is half a percent).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from schemas.spec_early_stopping import (
    V1DiffStoppingPolicy,
    V1FailureEarlyStopping,
    V1MedianStoppingPolicy,
    V1MetricEarlyStopping,
    V1TruncationStoppingPolicy,
)

Reports = Sequence[tuple[int, float]]


@dataclass(frozen=True)
class Decision:
    stop: bool
    reason: str


def _better(value: float, than: float, maximize: bool) -> bool:
    return value > than if maximize else value < than


def _reached(value: float, threshold: float, maximize: bool) -> bool:
    return value >= threshold if maximize else value <= threshold


def metric_reached(rule: V1MetricEarlyStopping, metrics: Mapping[str, Reports]) -> Decision:
    """Stop the search when a run's `metric` reaches the rule's `value`."""
    maximize = rule.optimization == "maximize"
    word = ">=" if maximize else "<="
    for run, reports in metrics.items():
        for step, value in reports:
            if _reached(value, rule.value, maximize):
                return Decision(
                    True,
                    f"metric early stopping: run {run} reported {rule.metric} = {value:g} at "
                    f"step {step}, {word} {rule.value:g}",
                )
    return Decision(False, f"metric early stopping: no run has {rule.metric} {word} {rule.value:g}")


def failures_reached(rule: V1FailureEarlyStopping, statuses: Mapping[str, str]) -> Decision:
    """Stop (and fail) the search when `percent` percent of its runs have failed."""
    failed = sum(1 for s in statuses.values() if s == "failed")
    share = 100.0 * failed / len(statuses) if statuses else 0.0
    verdict = share >= rule.percent
    word = "reaches" if verdict else "is under"
    return Decision(
        verdict,
        f"failure early stopping: {failed} of {len(statuses)} runs failed ({share:g}%), "
        f"which {word} {rule.percent:g}%",
    )


def policy_stops(
    rule: V1MetricEarlyStopping, metrics: Mapping[str, Reports]
) -> dict[str, Decision]:
    """One decision per run that has reported, by the rule's policy."""
    if rule.policy is None:
        raise ValueError("metric early stopping without a policy stops the search, not runs")
    return {run: _judge(rule, run, metrics) for run, reports in metrics.items() if reports}


def _judge(rule: V1MetricEarlyStopping, run: str, metrics: Mapping[str, Reports]) -> Decision:
    policy = rule.policy
    assert policy is not None
    name = f"{policy.kind} stopping of {rule.metric}"
    step = max(s for s, _ in metrics[run])
    if step % policy.evaluation_interval:
        return Decision(
            False,
            f"{name}: step {step} is not a multiple of the evaluation "
            f"interval {policy.evaluation_interval}",
        )
    if policy.min_interval is not None and step < policy.min_interval:
        return Decision(
            False, f"{name}: step {step} is before the minimum interval {policy.min_interval}"
        )
    others = {
        other: [(s, v) for s, v in reports if s <= step]
        for other, reports in metrics.items()
        if other != run
    }
    others = {other: reports for other, reports in others.items() if reports}
    needed = policy.min_samples or 1
    if len(others) < needed:
        return Decision(
            False,
            f"{name}: {len(others)} other runs reported by step {step}, "
            f"fewer than the {needed} needed",
        )
    own = [v for s, v in metrics[run] if s <= step]
    maximize = rule.optimization == "maximize"
    if isinstance(policy, V1MedianStoppingPolicy):
        return _median(name, run, own, others, maximize, step)
    if isinstance(policy, V1TruncationStoppingPolicy):
        return _truncation(name, run, own[-1], others, maximize, step, policy.percent)
    assert isinstance(policy, V1DiffStoppingPolicy)
    return _diff(name, run, own, others, maximize, step, policy.percent)


def _best(values: Sequence[float], maximize: bool) -> float:
    return max(values) if maximize else min(values)


def _median(
    name: str,
    run: str,
    own: Sequence[float],
    others: Mapping[str, Reports],
    maximize: bool,
    step: int,
) -> Decision:
    averages = [statistics.fmean(v for _, v in reports) for reports in others.values()]
    median = statistics.median(averages)
    best = _best(own, maximize)
    worse = _better(median, best, maximize)
    word = "worse than" if worse else "not worse than"
    return Decision(
        worse,
        f"{name}: run {run}'s best {best:g} by step {step} is {word} the "
        f"median {median:g} of {len(averages)} other runs' running averages",
    )


def _truncation(
    name: str,
    run: str,
    own: float,
    others: Mapping[str, Reports],
    maximize: bool,
    step: int,
    percent: float,
) -> Decision:
    values = [own] + [reports[-1][1] for reports in others.values()]
    cut = math.floor(len(values) * percent / 100.0)
    # A tie at the cut keeps the run: it stops only when enough runs are strictly better.
    better = sum(1 for v in values if _better(v, own, maximize))
    stop = cut > 0 and better >= len(values) - cut
    word = "among" if stop else "not among"
    return Decision(
        stop,
        f"{name}: run {run}'s {own:g} at step {step} is {word} the worst {percent:g}% "
        f"({cut} of {len(values)} runs; {better} are better)",
    )


def _diff(
    name: str,
    run: str,
    own: Sequence[float],
    others: Mapping[str, Reports],
    maximize: bool,
    step: int,
    percent: float,
) -> Decision:
    best_other = _best([v for reports in others.values() for _, v in reports], maximize)
    best = _best(own, maximize)
    gap = (best_other - best) if maximize else (best - best_other)
    allowed = abs(best_other) * percent / 100.0
    stop = gap > allowed
    word = "more" if stop else "no more"
    return Decision(
        stop,
        f"{name}: run {run}'s best {best:g} by step {step} is {word} than "
        f"{percent:g}% ({allowed:g}) worse than the best {best_other:g}",
    )
