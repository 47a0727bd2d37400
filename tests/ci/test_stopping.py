"""Early stopping of a search judged on its trials' rows: each policy over real metric series on
PostgreSQL, what it names (a trial or the whole search), and the reason naming the values."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ci.runs import lifecycle, metrics, pipelines, stopping
from ci.runs.metrics import Report
from ci.runs.pipeline_children import dump_model
from ci.store.models import Condition, Project, Run
from schemas.spec_early_stopping import (
    V1DiffStoppingPolicy,
    V1FailureEarlyStopping,
    V1MedianStoppingPolicy,
    V1MetricEarlyStopping,
    V1TruncationStoppingPolicy,
)
from schemas.status import RunStatus

S = RunStatus
PATHS = {
    S.RUNNING: [S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING],
    S.SUCCEEDED: [S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED],
    S.FAILED: [S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.FAILED],
    S.CREATED: [],
}


class Search:
    """A running search controller with `rules`, whose trials are added by name."""

    def __init__(self, db: Any, *rules: Any) -> None:
        self.db = db
        self.ids: dict[str, int] = {}
        with db.session() as session:
            project = session.scalar(select(Project).where(Project.name == "vision"))
            project = project or Project(name="vision")
            run = Run(project=project, name="search", kind="matrix", runner="local")
            run.meta = {"early_stopping": [dump_model(rule) for rule in rules]}
            lifecycle.create(session, run)
            session.flush()
            for status in (S.COMPILED, S.RUNNING):
                lifecycle.transition(session, run, status)
            self.id, self.project_id = run.id, project.id

    def trial(
        self, status: S = S.RUNNING, series: list[tuple[int, float]] = (), **outputs: Any
    ) -> str:
        name = f"search#{len(self.ids)}"
        with self.db.session() as session:
            run = Run(project_id=self.project_id, name="search", kind="job", runner="local")
            run.parent_id, run.op_name, run.outputs = self.id, name, outputs
            lifecycle.create(session, run)
            session.flush()
            for step in PATHS[status]:
                if step == S.SCHEDULED:
                    run.external_id = f"local-{name}"
                lifecycle.transition(session, run, step)
            metrics.record(session, run, [Report("loss", s, v) for s, v in series])
            self.ids[name] = run.id
        return name

    def judge(self) -> list[stopping.Stop]:
        with self.db.session() as session:
            return stopping.judge(session, session.get(Run, self.id))

    def named(self) -> dict[str, str]:
        """What judge stops: {trial name or "search": policy}."""
        return {stop.name or "search": stop.policy for stop in self.judge()}

    def status(self, name: str) -> str:
        with self.db.session() as session:
            return session.get(Run, self.ids.get(name, self.id)).status

    def history(self, name: str) -> list[str]:
        with self.db.session() as session:
            run_id = self.ids.get(name, self.id)
            query = select(Condition.message).where(Condition.run_id == run_id)
            return list(session.scalars(query.order_by(Condition.id)))


@pytest.fixture
def search(rt, db):
    return lambda *rules: Search(db, *rules)


def minimize(policy: Any = None, value: float = 0.0) -> V1MetricEarlyStopping:
    return V1MetricEarlyStopping(metric="loss", value=value, optimization="minimize", policy=policy)


# -- median --------------------------------------------------------------------------------------


def test_median_stops_a_trial_whose_best_is_worse_than_the_others_running_averages(search):
    trials = search(minimize(V1MedianStoppingPolicy(evaluation_interval=1, min_samples=2)))
    trials.trial(series=[(1, 0.6), (2, 0.4)])  # average 0.5
    trials.trial(series=[(1, 0.5), (2, 0.3)])  # average 0.4
    trials.trial(series=[(1, 1.0), (2, 0.9)])

    [stop] = trials.judge()

    assert (stop.name, stop.policy, stop.run_id) == ("search#2", "median", trials.ids["search#2"])
    assert not stop.whole_search
    assert stop.reason == (
        "median stopping of loss: run search#2's best 0.9 by step 2 is worse than the "
        "median 0.45 of 2 other runs' running averages"
    )


def test_median_waits_for_min_samples_other_trials(search):
    trials = search(minimize(V1MedianStoppingPolicy(evaluation_interval=1, min_samples=3)))
    trials.trial(series=[(1, 0.3)])
    trials.trial(series=[(1, 0.4)])
    trials.trial(series=[(1, 0.9)])

    assert trials.judge() == []  # each has 2 others to compare with

    trials.trial(series=[(1, 0.35)])
    # 0.4 is worse than the median 0.35 of 0.3, 0.35 and 0.9; 0.9 worse than that of the rest.
    assert trials.named() == {"search#1": "median", "search#2": "median"}


def test_a_trial_is_judged_only_at_a_step_of_the_evaluation_interval_past_min_interval(search):
    policy = V1MedianStoppingPolicy(evaluation_interval=5, min_interval=10)
    trials = search(minimize(policy))
    trials.trial(series=[(5, 0.2), (10, 0.2)])
    worst = trials.trial(series=[(5, 0.9)])  # step 5: before the minimum interval
    odd = trials.trial(series=[(5, 0.9), (10, 0.9), (12, 0.9)])  # step 12: no multiple of 5

    assert trials.judge() == []

    with trials.db.session() as session:
        run = session.get(Run, trials.ids[worst])
        metrics.record(session, run, [Report("loss", 10, 0.95)])
    assert trials.named() == {worst: "median"}
    assert odd not in trials.named()


def test_finished_trials_are_compared_with_but_never_stopped(search):
    trials = search(minimize(V1MedianStoppingPolicy(evaluation_interval=1)))
    trials.trial(S.SUCCEEDED, series=[(1, 0.9)])
    trials.trial(S.FAILED, series=[(1, 0.95)])
    live = trials.trial(series=[(1, 0.99)])
    trials.trial(series=[(1, 0.1)])

    assert trials.named() == {live: "median"}


# -- truncation and diff -------------------------------------------------------------------------


def test_truncation_stops_the_worst_percent_at_a_step(search):
    policy = V1TruncationStoppingPolicy(evaluation_interval=1, percent=50)
    trials = search(minimize(policy))
    for value in (0.1, 0.2, 0.8, 0.9):
        trials.trial(series=[(1, value)])

    stops = {stop.name: stop.reason for stop in trials.judge()}

    assert sorted(stops) == ["search#2", "search#3"]
    assert stops["search#2"] == (
        "truncation stopping of loss: run search#2's 0.8 at step 1 is among the worst 50% "
        "(2 of 4 runs; 2 are better)"
    )


def test_diff_stops_a_trial_further_from_the_best_than_percent_of_it(search):
    trials = search(minimize(V1DiffStoppingPolicy(evaluation_interval=1, percent=10)))
    trials.trial(series=[(1, 0.2)])
    trials.trial(series=[(1, 0.21)])  # 0.01 behind: within 10% of 0.2
    trials.trial(series=[(1, 0.3)])  # 0.1 behind

    [stop] = trials.judge()

    assert (stop.name, stop.policy) == ("search#2", "diff")
    assert stop.reason == (
        "diff stopping of loss: run search#2's best 0.3 by step 1 is more than 10% (0.02) "
        "worse than the best 0.2"
    )


# -- rules that stop the whole search ------------------------------------------------------------


def test_a_metric_reaching_its_value_at_any_step_stops_the_whole_search(search):
    trials = search(minimize(value=0.1))
    trials.trial(series=[(1, 0.5)])
    trials.trial(series=[(1, 0.3), (3, 0.05), (4, 0.2)])

    [stop] = trials.judge()

    assert stop.whole_search and stop.policy == "metric"
    assert stop.reason == (
        "metric early stopping: run search#1 reported loss = 0.05 at step 3, <= 0.1"
    )


def test_a_metric_reported_only_as_an_output_counts_for_the_threshold(search):
    trials = search(minimize(value=0.1))
    trials.trial(S.SUCCEEDED, accuracy=0.99)
    assert trials.judge() == []

    trials.trial(S.SUCCEEDED, loss=0.08)
    assert trials.named() == {"search": "metric"}


def test_failures_reaching_percent_of_the_trials_stop_the_whole_search(search):
    trials = search(V1FailureEarlyStopping(percent=30))
    trials.trial(S.FAILED)
    for _ in range(3):
        trials.trial(S.RUNNING)
    assert trials.judge() == []  # 1 of 4: 25%

    trials.trial(S.FAILED)
    [stop] = trials.judge()
    assert stop.whole_search and stop.policy == "failure"
    assert stop.reason == "failure early stopping: 2 of 5 runs failed (40%), which reaches 30%"


def test_a_search_without_rules_or_trials_stops_nothing(search):
    assert search().judge() == []
    assert search(minimize(value=1.0)).judge() == []


# -- carrying it out -----------------------------------------------------------------------------


def test_a_stopped_trials_history_names_the_policy_and_the_values(search):
    trials = search(minimize(V1MedianStoppingPolicy(evaluation_interval=1)))
    trials.trial(series=[(1, 0.2)])
    worst = trials.trial(series=[(1, 0.9)])

    with trials.db.session() as session:
        run = session.get(Run, trials.id, with_for_update=True)
        told = stopping.carry_out(session, run, stopping.judge(session, run))

    assert told == [trials.ids[worst]]
    assert trials.status(worst) == "stopping"
    assert trials.status("search") == "running"
    assert trials.history(worst)[-1] == (
        f"earlyStopping: median stopping of loss: run {worst}'s best 0.9 by step 1 is worse "
        "than the median 0.2 of 1 other runs' running averages"
    )
    # Judged again, a trial already stopping is named no more.
    assert trials.judge() == []


def test_a_whole_search_stop_stops_the_search_with_its_trials(search):
    trials = search(V1FailureEarlyStopping(percent=50))
    trials.trial(S.FAILED)
    waiting = trials.trial(S.CREATED)

    with trials.db.session() as session:
        run = session.get(Run, trials.id, with_for_update=True)
        assert stopping.carry_out(session, run, stopping.judge(session, run)) == []

    assert trials.status(waiting) == "stopped"
    assert trials.status("search") == "stopped"
    assert trials.history("search")[-1] == (
        "earlyStopping: failure early stopping: 1 of 2 runs failed (50%), which reaches 50%"
    )


# -- a dag's earlyStopping -----------------------------------------------------------------------


def test_a_dags_metric_rule_reads_an_ops_series_at_every_step_not_only_its_latest(search):
    # The same rows as a dag's controller and op: the dag's rule reads the series too.
    trials = search(minimize(value=0.1))
    op = trials.trial(series=[(1, 0.3), (2, 0.05), (3, 0.2)])  # its latest is 0.2
    with trials.db.session() as session:
        parent = session.get(Run, trials.id)
        why = pipelines.early_stop(session, parent, {op: "running"})

    assert why == f"earlyStopping: ops.{op} reached loss 0.05 (<= 0.1)"
