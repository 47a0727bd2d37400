"""Early stopping of a search, judged on its trials' rows (ci.optimize.early_stopping's rules).

`judge(session, search)` reads the search's `earlyStopping` rules (stored on the controller when
it began), its trials (the children of the search run), their statuses and their metric series
(ci.runs.metrics), and returns what to stop, each Stop with a reason naming the values compared:

- failure: the whole search, once `percent` percent of the trials made so far have failed.
- metric without a policy: the whole search, once a trial reported `value` or better at any
  step (a trial that reported no series is read from its outputs, as one report at step 0).
- metric with a median, truncation or diff policy: each live trial the policy picks, judged at
  its latest step against the other trials (live or done) that reported by that step.

`carry_out` stops what `judge` named, with the reason in each stopped run's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.optimize import early_stopping as rules_
from ci.runs import metrics, tree
from ci.store.models import Run
from schemas.spec_early_stopping import (
    V1EarlyStopping,
    V1FailureEarlyStopping,
    V1MetricEarlyStopping,
)
from schemas.status import DONE, RunStatus

ENDING = DONE | {RunStatus.STOPPING}  # a trial already on its way out is not stopped again
_RULES: TypeAdapter[list[V1EarlyStopping]] = TypeAdapter(list[V1EarlyStopping])


@dataclass(frozen=True)
class Stop:
    """Stop one trial (`run_id`, `name` its op name) or, with `run_id` None, the whole search;
    `policy` is failure, metric, median, truncation or diff."""

    policy: str
    reason: str
    run_id: int | None = None
    name: str | None = None

    @property
    def whole_search(self) -> bool:
        return self.run_id is None


@dataclass(frozen=True)
class _Trial:
    id: int
    name: str
    status: str
    outputs: dict[str, Any]


def rules_of(search: Run) -> list[V1EarlyStopping]:
    """The search's earlyStopping rules, as its controller stored them when it began."""
    return _RULES.validate_python((search.meta or {}).get("early_stopping") or [])


def judge(
    session: Session, search: Run, rules: Sequence[V1EarlyStopping] | None = None
) -> list[Stop]:
    """What the search's early stopping stops now: the whole search (the first rule that says
    so, alone), else each live trial a policy picks (once, by the first rule that picks it)."""
    found = rules_of(search) if rules is None else list(rules)
    if not found:
        return []
    trials = _trials(session, search)
    if not trials:
        return []
    stops: dict[int, Stop] = {}
    for rule in found:
        if isinstance(rule, V1FailureEarlyStopping):
            decision = rules_.failures_reached(rule, {t.name: t.status for t in trials})
            if decision.stop:
                return [Stop("failure", decision.reason)]
            continue
        if rule.policy is None:
            decision = rules_.metric_reached(rule, _reports(session, trials, rule, True))
            if decision.stop:
                return [Stop("metric", decision.reason)]
            continue
        by_name = {t.name: t for t in trials}
        for name, verdict in rules_.policy_stops(rule, _reports(session, trials, rule)).items():
            trial = by_name[name]
            if verdict.stop and trial.status not in ENDING and trial.id not in stops:
                stops[trial.id] = Stop(rule.policy.kind, verdict.reason, trial.id, name)
    return list(stops.values())


def _trials(session: Session, search: Run) -> list[_Trial]:
    rows = session.execute(
        select(Run.id, Run.op_name, Run.uuid, Run.status, Run.outputs)
        .where(Run.parent_id == search.id)
        .order_by(Run.id)
    )
    return [_Trial(r.id, r.op_name or r.uuid, str(r.status), r.outputs or {}) for r in rows]


def _reports(
    session: Session, trials: Iterable[_Trial], rule: V1MetricEarlyStopping, outputs: bool = False
) -> dict[str, list[tuple[int, float]]]:
    """Each trial's series of the rule's metric by name; with `outputs`, a trial that reported
    no series but has the metric in its outputs counts as one report at step 0."""
    listed = list(trials)
    found = metrics.series(session, [t.id for t in listed], rule.metric)
    reports = {t.name: found[t.id] for t in listed if t.id in found}
    if outputs:
        for trial in listed:
            value = trial.outputs.get(rule.metric)
            if trial.name in reports or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                reports[trial.name] = [(0, float(value))]
    return reports


def carry_out(session: Session, search: Run, stops: Iterable[Stop]) -> list[int]:
    """Stop what `judge` named (the caller holds the search's row FOR UPDATE); returns the ids
    of the runs a runner holds, for `axon.stop_run` once the transaction commits."""
    to_tell: list[int] = []
    for stop in stops:
        if stop.whole_search:
            return to_tell + tree.stop(session, search, f"earlyStopping: {stop.reason}")
        trial = session.get(Run, stop.run_id, with_for_update=True)
        if trial is not None and trial.status not in ENDING:
            to_tell += tree.stop(session, trial, f"earlyStopping: {stop.reason}")
    return to_tell
