"""Searches: hyperopt, bayes and hyperband matrices run as controllers whose trials are asked of
`ci.optimize.suggest` as results come in, within their concurrency and budget.

The worker's tasks are carried out by hand (tests/ci/test_pipelines.py's `Pipeline`); a trial's
end is the transition the agent records, with the metric written to its outputs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from sqlalchemy import select

from ci.runs import launch, metrics, pipelines, suggesting, tree
from ci.runs.metrics import Report
from ci.schedules import firing
from ci.store.models import Run
from schemas.status import DONE, RunStatus
from tests.ci import test_schedule_controller as schedules
from tests.ci.test_pipelines import Pipeline

S = RunStatus
TRAIN: dict[str, Any] = {
    "name": "train",
    "cache": {"disable": True},
    "inputs": [
        {"name": "lr", "type": "float", "isOptional": True, "value": 0.1},
        {"name": "depth", "type": "int", "isOptional": True, "value": 1},
        {"name": "epochs", "type": "int", "isOptional": True, "value": 1},
    ],
    "run": {
        "kind": "job",
        "container": {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]},
    },
}
SPACE = {
    "lr": {"kind": "uniform", "value": [0.0, 1.0]},
    "depth": {"kind": "choice", "value": [1, 2, 3, 4]},
}


def search(matrix: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "tune",
        "matrix": matrix,
        "component": {"version": 1.1, "kind": "component", **TRAIN},
    }


def loss(params: dict[str, Any]) -> float:
    """A smooth objective the tests finish trials with: least at lr 0.3, depth 3."""
    return (float(params["lr"]) - 0.3) ** 2 + 0.1 * abs(int(params.get("depth", 3)) - 3)


class Search(Pipeline):
    def trials(self, parent_id: int) -> list[Run]:
        with self.db.session() as session:
            found = list(
                session.scalars(select(Run).where(Run.parent_id == parent_id).order_by(Run.id))
            )
            session.expunge_all()
            return found

    def live(self, parent_id: int) -> list[Run]:
        return [t for t in self.trials(parent_id) if t.status not in DONE]

    def finish(self, parent_id: int, trial: Run, value: float | None, ok: bool = True) -> None:
        outputs = {} if value is None else {"loss": value}
        self.end(parent_id, str(trial.op_name), S.SUCCEEDED if ok else S.FAILED, **outputs)

    def run_to_end(self, parent_id: int, limit: int | None = None) -> list[list[Run]]:
        """Finish the live trials one by one (by `loss`) until the search ends; the live
        trials seen before each end."""
        seen: list[list[Run]] = []
        while self.run(parent_id).status not in DONE:
            live = self.live(parent_id)
            assert live, "a running search with no live trial"
            seen.append(live)
            if limit is not None:
                assert len(live) <= limit
            trial = live[0]
            self.finish(parent_id, trial, loss(trial.meta["params"]))
            assert len(seen) < 200, "the search never ends"
        return seen


@pytest.fixture
def axon_search(rt, db, axon, enqueued, local_runner) -> Search:
    return Search(rt, db, axon, enqueued)


def test_a_hyperopt_search_runs_its_budget_within_its_concurrency(axon_search):
    matrix = {
        "kind": "hyperopt",
        "numRuns": 6,
        "concurrency": 2,
        "seed": 7,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))

    controller = axon_search.run(run_id)
    assert (controller.kind, controller.status) == ("matrix", S.RUNNING)
    assert [t.status for t in axon_search.trials(run_id)] == [S.SCHEDULED, S.SCHEDULED]

    seen = axon_search.run_to_end(run_id, limit=2)

    trials = axon_search.trials(run_id)
    assert [t.op_name for t in trials] == [f"tune#{i}" for i in range(6)]
    assert all(len(live) == 2 for live in seen[:5])  # the slots are refilled as trials end
    params = [(t.meta["params"]["lr"], t.meta["params"]["depth"]) for t in trials]
    assert len(set(params)) == 6
    # Each trial ran with its own values.
    assert [t.inputs["lr"] for t in trials] == [p[0] for p in params]
    controller = axon_search.run(run_id)
    assert controller.status == S.SUCCEEDED
    best = min(trials, key=lambda t: t.outputs["loss"])
    assert controller.meta["best"] == {
        "uuid": best.uuid,
        "params": best.meta["params"],
        "value": best.outputs["loss"],
        "metric": "loss",
    }


def test_a_bayes_search_runs_its_initial_runs_then_its_iterations(axon_search):
    matrix = {
        "kind": "bayes",
        "numInitialRuns": 3,
        "maxIterations": 2,
        "concurrency": 1,
        "seed": 3,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": {"lr": {"kind": "uniform", "value": [0.0, 1.0]}},
    }
    run_id = axon_search.push(search(matrix))

    seen = axon_search.run_to_end(run_id, limit=1)

    assert len(seen) == 5
    assert len(axon_search.trials(run_id)) == 5
    assert axon_search.run(run_id).status == S.SUCCEEDED


def test_a_search_maximizing_its_metric_names_the_largest_value_best(axon_search):
    matrix = {
        "kind": "hyperopt",
        "algorithm": "rand",
        "numRuns": 3,
        "seed": 1,
        "metric": {"name": "loss", "optimization": "maximize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))
    # Without concurrency, the whole budget starts at once.
    assert len(axon_search.live(run_id)) == 3

    axon_search.run_to_end(run_id)

    trials = axon_search.trials(run_id)
    best = max(trials, key=lambda t: t.outputs["loss"])
    assert axon_search.run(run_id).meta["best"]["uuid"] == best.uuid


def test_hyperband_promotes_the_best_trials_by_resuming_them(axon_search):
    matrix = {
        "kind": "hyperband",
        "maxIterations": 9,
        "eta": 3,
        "resume": True,
        "concurrency": 4,
        "seed": 5,
        "resource": {"name": "epochs", "type": "int"},
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))

    axon_search.run_to_end(run_id, limit=4)

    trials = axon_search.trials(run_id)
    # R = 9, eta = 3: brackets of 9, 5 and 3 configs; 3 + 1 of the first and 1 of the second
    # are promotions, which resume a trial rather than start one.
    assert len(trials) == 9 + 5 + 3
    assert sorted(t.attempt for t in trials if t.attempt) == [1, 1, 1, 2]
    twice = next(t for t in trials if t.attempt == 2)
    assert twice.meta["params"]["epochs"] == 9
    assert [r["params"]["epochs"] for r in twice.meta["rungs"]] == [1, 3]
    assert twice.inputs["epochs"] == 9  # the resumed run compiled with the larger resource
    first_bracket = trials[:9]
    promoted = sorted((t for t in first_bracket if t.attempt), key=lambda t: t.id)
    rung_one = sorted(first_bracket, key=lambda t: _first_value(t))[:3]
    assert {t.id for t in promoted} == {t.id for t in rung_one}
    assert axon_search.run(run_id).status == S.SUCCEEDED


def _first_value(trial: Run) -> float:
    rungs = trial.meta.get("rungs") or []
    return float(rungs[0]["value"] if rungs else trial.outputs["loss"])


def test_a_failed_trial_is_observed_and_fails_the_search_by_the_pipeline_rule(axon_search):
    matrix = {
        "kind": "hyperopt",
        "numRuns": 3,
        "concurrency": 1,
        "seed": 2,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))
    [first] = axon_search.live(run_id)
    axon_search.finish(run_id, first, None, ok=False)

    # The failed trial spent its part of the budget; the search goes on with the next.
    [second] = axon_search.live(run_id)
    assert second.id != first.id
    axon_search.run_to_end(run_id, limit=1)

    trials = axon_search.trials(run_id)
    assert len(trials) == 3
    controller = axon_search.run(run_id)
    assert controller.status == S.FAILED
    assert axon_search.history(run_id)[-1][1:] == (
        "PipelineFailed",
        "3 op(s): 1 failed, 2 succeeded",
    )
    best = min(trials[1:], key=lambda t: t.outputs["loss"])
    assert controller.meta["best"]["uuid"] == best.uuid


def test_a_trial_that_reports_no_metric_is_never_the_best(axon_search):
    matrix = {
        "kind": "hyperopt",
        "numRuns": 2,
        "concurrency": 1,
        "seed": 4,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))
    [first] = axon_search.live(run_id)
    axon_search.finish(run_id, first, None)
    [second] = axon_search.live(run_id)
    axon_search.finish(run_id, second, 0.5)

    assert axon_search.run(run_id).meta["best"]["uuid"] == second.uuid


def test_advancing_twice_creates_no_second_trial(axon_search):
    matrix = {
        "kind": "hyperopt",
        "numRuns": 4,
        "concurrency": 2,
        "seed": 9,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))
    before = [(t.op_name, t.meta["params"]) for t in axon_search.trials(run_id)]

    for _ in range(2):
        with axon_search.db.session() as session:
            pipelines.advance(
                axon_search.rt, session, run_id, stop=tree.stop, search=suggesting.advance
            )
    axon_search.work()

    assert [(t.op_name, t.meta["params"]) for t in axon_search.trials(run_id)] == before


def test_an_advance_that_crashed_before_committing_suggests_the_same_trials_again(axon_search):
    matrix = {
        "kind": "bayes",
        "numInitialRuns": 2,
        "maxIterations": 2,
        "concurrency": 1,
        "seed": 13,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": {"lr": {"kind": "uniform", "value": [0.0, 1.0]}},
    }
    run_id = axon_search.push(search(matrix))
    [first] = axon_search.live(run_id)
    with axon_search.db.session() as session:
        session.get(Run, first.id).outputs = {"loss": 0.25}
    from tests.ci.conftest import advance

    advance(axon_search.db, first.id, S.RUNNING, S.SUCCEEDED)
    axon_search.enqueued.clear()

    class Killed(Exception):
        pass

    with pytest.raises(Killed), axon_search.db.session() as session:
        pipelines.advance(
            axon_search.rt, session, run_id, stop=tree.stop, search=suggesting.advance
        )
        made = [
            t.meta["params"] for t in session.scalars(select(Run).where(Run.parent_id == run_id))
        ]
        raise Killed  # the worker dies before its transaction commits
    assert len(axon_search.trials(run_id)) == 1

    with axon_search.db.session() as session:
        pipelines.advance(
            axon_search.rt, session, run_id, stop=tree.stop, search=suggesting.advance
        )
    assert [t.meta["params"] for t in axon_search.trials(run_id)] == made


def test_a_search_stopped_early_by_its_metric_stops_its_live_trials(axon_search):
    matrix = {
        "kind": "hyperopt",
        "numRuns": 6,
        "concurrency": 2,
        "seed": 6,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
        "earlyStopping": [
            {
                "kind": "metric_early_stopping",
                "metric": "loss",
                "value": 0.5,
                "optimization": "minimize",
            }
        ],
    }
    run_id = axon_search.push(search(matrix))
    first, other = axon_search.live(run_id)
    axon_search.finish(run_id, first, 0.1)

    assert axon_search.statuses(run_id)[other.op_name] in (S.STOPPING, S.STOPPED)
    assert len(axon_search.trials(run_id)) == 2
    axon_search.end(run_id, other.op_name, S.STOPPED)
    assert axon_search.run(run_id).status == S.STOPPED


def test_an_iterative_search_without_its_tuner_container_is_refused(axon_search):
    matrix = {"kind": "iterative", "maxIterations": 3, "params": SPACE}
    run_id = axon_search.push(search(matrix))

    failed = axon_search.history(run_id)[-1]
    assert failed[:2] == (S.FAILED, "CompilationError")
    assert "matrix.container" in failed[2] and "tuner container" in failed[2]


def test_an_iterative_search_runs_its_tuner_each_round_and_its_answer_as_trials(axon_search):
    tuner = {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]}
    matrix = {
        "kind": "iterative",
        "maxIterations": 2,
        "concurrency": 2,
        "seed": 4,
        "params": SPACE,
        "container": tuner,
    }
    run_id = axon_search.push(search(matrix))
    assert axon_search.statuses(run_id) == {"tune#tuner0": S.SCHEDULED}
    given = json.loads(axon_search.child(run_id, "tune#tuner0").compiled["env"]["AXON_TUNER_INPUT"])
    assert given == {"params": SPACE, "observations": [], "maxIterations": 2, "seed": 4}

    first = [{"lr": 0.1, "depth": 1}, {"lr": 0.2, "depth": 2}, {"lr": 0.3, "depth": 3}]
    axon_search.end(run_id, "tune#tuner0", S.SUCCEEDED, suggestions=first)
    assert [t.meta["params"] for t in axon_search.live(run_id)] == first[:2]  # concurrency 2
    for index in range(3):
        axon_search.end(run_id, f"tune#{index}", S.SUCCEEDED, loss=loss(first[index]))

    # The round's trials are done: the tuner runs again, given what they gave.
    given = json.loads(axon_search.child(run_id, "tune#tuner1").compiled["env"]["AXON_TUNER_INPUT"])
    assert given["observations"] == [
        {"params": params, "status": "succeeded", "outputs": {"loss": loss(params)}}
        for params in first
    ]
    axon_search.end(run_id, "tune#tuner1", S.SUCCEEDED, suggestions=[{"lr": 0.35, "depth": 3}])
    axon_search.end(run_id, "tune#3", S.SUCCEEDED, loss=0.0)

    # maxIterations rounds ran: the search ends.
    assert axon_search.child(run_id, "tune#3").inputs["lr"] == 0.35
    assert len(axon_search.trials(run_id)) == 2 + 4
    assert axon_search.run(run_id).status == S.SUCCEEDED


def test_an_iterative_tuner_answer_naming_unknown_params_stops_the_search(axon_search):
    tuner = {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]}
    matrix = {"kind": "iterative", "maxIterations": 2, "params": SPACE, "container": tuner}
    run_id = axon_search.push(search(matrix))

    axon_search.end(run_id, "tune#tuner0", S.SUCCEEDED, suggestions=[{"momentum": 0.9}])

    ended = axon_search.history(run_id)[-1]
    assert ended[0] == S.STOPPED
    assert "momentum not among the matrix's params" in ended[2]


def test_a_bayes_search_without_max_iterations_is_refused(axon_search):
    matrix = {
        "kind": "bayes",
        "numInitialRuns": 2,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": {"lr": {"kind": "uniform", "value": [0.0, 1.0]}},
    }
    run_id = axon_search.push(search(matrix))

    failed = axon_search.history(run_id)[-1]
    assert failed[:2] == (S.FAILED, "CompilationError")
    assert "matrix.maxIterations" in failed[2]


def test_hyperband_without_resume_promotes_into_new_trials(axon_search):
    matrix = {
        "kind": "hyperband",
        "maxIterations": 9,
        "eta": 3,
        "concurrency": 3,
        "seed": 5,
        "resource": {"name": "epochs", "type": "int"},
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = axon_search.push(search(matrix))

    axon_search.run_to_end(run_id, limit=3)

    trials = axon_search.trials(run_id)
    # Every rung of every bracket is trials of its own: 9, 3, 1; 5, 1; 3.
    assert len(trials) == 9 + 3 + 1 + 5 + 1 + 3
    assert all(t.attempt == 0 for t in trials)
    epochs = [t.meta["params"]["epochs"] for t in trials]
    assert epochs == [1] * 9 + [3] * 3 + [9] + [3] * 5 + [9] + [9] * 3
    assert [t.inputs["epochs"] for t in trials] == epochs


def test_a_trial_its_median_rule_picks_is_stopped_and_the_search_goes_on(axon_search):
    matrix = {
        "kind": "hyperopt",
        "numRuns": 4,
        "concurrency": 3,
        "seed": 8,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
        "earlyStopping": [
            {
                "kind": "metric_early_stopping",
                "metric": "loss",
                "value": 0.0,
                "optimization": "minimize",
                "policy": {"kind": "median", "evaluationInterval": 1, "minSamples": 2},
            }
        ],
    }
    run_id = axon_search.push(search(matrix))
    good, better, bad = axon_search.live(run_id)
    for trial, series in ((good, [0.6, 0.4]), (better, [0.5, 0.3]), (bad, [1.0, 0.9])):
        with axon_search.db.session() as session:
            run = session.get(Run, trial.id, with_for_update=True)
            reports = [Report("loss", step, value) for step, value in enumerate(series, 1)]
            metrics.record(session, run, reports)
    with axon_search.db.session() as session:  # as a report wakes the search
        pipelines.advance(
            axon_search.rt, session, run_id, stop=tree.stop, search=suggesting.advance
        )

    assert axon_search.statuses(run_id)[bad.op_name] == S.STOPPING
    stopped = axon_search.history(bad.id)[-1]
    assert stopped[0] == S.STOPPING and "median stopping of loss" in stopped[2]
    axon_search.end(run_id, str(bad.op_name), S.STOPPED)
    # Its slot is free again: the fourth trial starts while the other two run.
    assert len(axon_search.live(run_id)) == 3
    assert len(axon_search.trials(run_id)) == 4

    # A trial's value is the last of its series, whatever its outputs say.
    axon_search.end(run_id, str(better.op_name), S.SUCCEEDED, loss=5.0)
    best = axon_search.run(run_id).meta["best"]
    assert (best["uuid"], best["value"]) == (better.uuid, 0.3)


def test_a_scheduled_search_makes_each_fired_run_a_search(rt, db, enqueued):
    run_id = schedules.create(db, {"kind": "datetime", "startAt": "2020-01-01T03:00:00Z"})
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        matrix = {"kind": "bayes", "numInitialRuns": 2, "maxIterations": 1, "concurrency": 1}
        matrix |= {"metric": {"name": "loss", "optimization": "minimize"}}
        matrix |= {"params": {"lr": {"kind": "uniform", "value": [0.0, 1.0]}}}
        component = {**run.spec["component"], "inputs": [{"name": "lr", "type": "float"}]}
        run.spec = {**run.spec, "matrix": matrix, "component": component}
    with db.session() as session:
        launch.start_run(rt, session, run_id)
    assert schedules.run_of(db, run_id).status == S.RUNNING

    firing.tick(rt)
    [child] = schedules.children(db, run_id)
    with db.session() as session:
        launch.start_run(rt, session, child["id"])
    with db.session() as session:  # the search's first advance
        pipelines.advance(rt, session, child["id"], stop=tree.stop, search=suggesting.advance)

    fired = schedules.run_of(db, child["id"])
    assert (fired.kind, fired.status, fired.meta["search"]["matrix"]["kind"]) == (
        "matrix",
        S.RUNNING,
        "bayes",
    )
    assert len(schedules.children(db, child["id"])) == 1  # its first trial, concurrency 1
