"""Pure judgements of a pipeline: may an op start, given its upstreams, and how does a dag end.

Trigger policies, as Polyaxon's scheduler checks them (`trigger:` of a dag op; default
all_succeeded). "Failed" means failed or upstream_failed, "done" any final status. An op is
decided as soon as its outcome is certain: `one_succeeded` starts at the first upstream that
succeeds, even while others still run; `all_succeeded` is upstream_failed at the first upstream
that ends any other way, without waiting for the rest. `skipOnUpstreamSkip: true` skips the op
as soon as one upstream is skipped; without it a skipped upstream counts as done, not succeeded.

A pipeline ends by Polyaxon's rule: a stopping pipeline is stopped; else any failed (or
upstream_failed) child fails it; else, all children stopped, it is stopped; else it succeeded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schemas.status import DONE, RunStatus

S = RunStatus
FAILED = frozenset({S.FAILED, S.UPSTREAM_FAILED})
POLICIES = (
    "all_succeeded", "all_failed", "all_done", "one_succeeded", "one_failed", "one_done",
)  # fmt: skip
DEFAULT_POLICY = "all_succeeded"


class Decision(StrEnum):
    WAIT = "wait"
    START = "start"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str = ""


def _names(statuses: Mapping[str, str], wanted: Iterable[str]) -> str:
    names = [name for name in statuses if statuses[name] in wanted]
    return ", ".join(f"ops.{name} ({statuses[name]})" for name in names)


def judge(
    policy: str | None, upstreams: Mapping[str, str], skip_on_upstream_skip: bool = False
) -> Verdict:
    """Whether an op whose upstreams are at `upstreams` (name → status) starts, waits, or
    ends as upstream_failed or skipped; the reason names the upstreams that decided it."""
    policy = policy or DEFAULT_POLICY
    if policy not in POLICIES:
        raise ValueError(f"unknown trigger policy {policy!r}; known: {', '.join(POLICIES)}")
    if not upstreams:
        return Verdict(Decision.START, "no upstream")
    if skip_on_upstream_skip and S.SKIPPED in upstreams.values():
        why = f"skipOnUpstreamSkip: {_names(upstreams, {S.SKIPPED})} skipped"
        return Verdict(Decision.SKIPPED, why)
    done = {name: status for name, status in upstreams.items() if status in DONE}
    all_done = len(done) == len(upstreams)
    wanted = {
        "succeeded": frozenset({S.SUCCEEDED}),
        "failed": FAILED,
        "done": DONE,
    }[policy.split("_", 1)[1]]
    met = {name: status for name, status in done.items() if status in wanted}
    if policy.startswith("all_"):
        other = {name: status for name, status in done.items() if status not in wanted}
        if other:
            why = f"trigger {policy} cannot be met: {_names(other, DONE)}"
            return Verdict(Decision.UPSTREAM_FAILED, why)
        if all_done:
            return Verdict(Decision.START, f"trigger {policy}: {_names(met, wanted)}")
        return Verdict(Decision.WAIT)
    if met:
        return Verdict(Decision.START, f"trigger {policy}: {_names(met, wanted)}")
    if all_done:
        why = f"trigger {policy} cannot be met: {_names(done, DONE)}"
        return Verdict(Decision.UPSTREAM_FAILED, why)
    return Verdict(Decision.WAIT)


def watched(kinds: Iterable[str]) -> frozenset[RunStatus]:
    """The statuses an op's `events` kinds (`run_status_running`, ..., `run_status_done`) name."""
    found: set[RunStatus] = set()
    for kind in kinds:
        name = kind.removeprefix("run_status_")
        if name == "done":
            found |= DONE
        elif name in RunStatus.__members__.values():
            found.add(RunStatus(name))
    return frozenset(found)


def judge_event(name: str, kinds: Iterable[str], reached: set[str], status: str) -> Verdict:
    """An op waiting for ops.`name` to enter one of `kinds`: start once it has (`reached` is
    every status it went through); upstream_failed if it ended without doing so."""
    statuses = watched(kinds)
    hit = sorted(statuses & ({*reached, status}))
    if hit:
        return Verdict(Decision.START, f"event: ops.{name} was {hit[0]}")
    if status in DONE:
        kinds_text = ", ".join(sorted(kinds))
        why = f"event: ops.{name} ended {status} without {kinds_text}"
        return Verdict(Decision.UPSTREAM_FAILED, why)
    return Verdict(Decision.WAIT)


def pipeline_end(stopping: bool, children: Iterable[str]) -> tuple[RunStatus, str] | None:
    """How a pipeline ends once all `children` (their statuses) are done, with a message
    counting them per status; None while one still lives."""
    counts = Counter(str(status) for status in children)
    if any(status not in DONE for status in counts):
        return None
    total = sum(counts.values())
    summary = ", ".join(f"{counts[s]} {s}" for s in sorted(counts))
    message = f"{total} op(s): {summary}" if total else "no op"
    if stopping:
        return S.STOPPED, message
    if any(status in FAILED for status in counts):
        return S.FAILED, message
    if total and counts[S.STOPPED] == total:
        return S.STOPPED, message
    return S.SUCCEEDED, message


def early_stop(
    rules: Iterable[Mapping[str, Any]],
    statuses: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """Why a pipeline's `earlyStopping` rules stop it, given its children's statuses and
    outputs, or None: a failure rule when at least `percent` of the children failed, a metric
    rule when a child's output `metric` reached `value` (at or above it when maximizing, at or
    below when minimizing)."""
    for rule in rules:
        if rule.get("kind") == "failure_early_stopping" and statuses:
            failed = sum(1 for status in statuses.values() if status in FAILED)
            share = 100.0 * failed / len(statuses)
            if failed and share >= float(rule["percent"]):
                return (
                    f"earlyStopping: {failed} of {len(statuses)} op(s) failed "
                    f"({share:g}% >= {float(rule['percent']):g}%)"
                )
        elif rule.get("kind") == "metric_early_stopping":
            hit = _metric_hit(rule, outputs)
            if hit:
                return hit
    return None


def _metric_hit(rule: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> str | None:
    metric, threshold = rule["metric"], float(rule["value"])
    maximize = rule.get("optimization", "maximize") == "maximize"
    for name, values in outputs.items():
        value = values.get(metric)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if (value >= threshold) if maximize else (value <= threshold):
            sign = ">=" if maximize else "<="
            return f"earlyStopping: ops.{name} reached {metric} {value:g} ({sign} {threshold:g})"
    return None
