"""`/axon sweep <subscription> [numRuns=N] [param=value...]`: a search started from a pull
request, its budget set by the comment, refused with the reason when it cannot be one."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import pytest
from sqlalchemy import select

from ci.reporting import reports
from ci.store.models import Run
from tests.ci.factories import OPERATION, setup_project
from tests.ci.test_dispatch_commands import HEAD_SHA, checks_of, comment, opened
from tests.ci.test_searches import SPACE
from tests.ci.test_searches import Search as Engine
from tests.fakes.github import GitHubDouble

GRID = {
    "kind": "grid",
    "params": {
        "lr": {"kind": "choice", "value": [0.001, 0.01, 0.1]},
        "depth": {"kind": "range", "value": [1, 3, 1]},
    },
}
COMMANDS = {"run": None, "sweep": {"args": {"note": "str"}}, "cancel": None}


def search(matrix: dict[str, Any] | None) -> dict[str, Any]:
    operation = deepcopy(OPERATION)
    operation["component"]["inputs"] += [
        {"name": "depth", "type": "int", "isOptional": True, "value": 1},
        {"name": "note", "type": "str", "isOptional": True, "value": ""},
    ]
    if matrix is not None:
        operation["matrix"] = matrix
        del operation["params"]["lr"]
    return operation


def subscribe(client: Any, matrix: dict[str, Any] | None = GRID, **fields: Any) -> None:
    setup_project(
        client,
        name="tune-on-pr",
        on={"pull_request": {"branches": ["master"]}, "comment": {"commands": COMMANDS}},
        operation=search(matrix),
        **fields,
    )


@pytest.fixture
def github(rt):
    with GitHubDouble(token="ghp_test") as double:
        rt.settings = rt.settings.model_copy(
            update={"github_api_url": double.url, "github_token": "ghp_test"}
        )
        yield double


def the_run(db: Any, run_id: int) -> Run:
    with db.session() as session:
        run = session.get(Run, run_id)
        session.expunge(run)
        return run


def test_sweep_starts_the_search_at_the_pull_requests_head_with_numruns_as_its_budget(
    client, db, enqueued
):
    subscribe(client)
    opened(client, db)

    delivery_id, [run_id] = comment(client, db, "/axon sweep tune-on-pr numRuns=4 note=fast")

    run = the_run(db, run_id)
    assert run.spec["matrix"] == {**GRID, "numRuns": 4}
    assert run.spec["params"]["note"] == {"value": "fast"}
    assert run.event["sha"] == HEAD_SHA
    made, checks = checks_of(db, delivery_id)
    assert made == run_id
    assert ("command", True, "/axon sweep tune-on-pr note='fast' numRuns=4") in checks
    assert ("sweep", True, "a grid search with numRuns=4") in checks


def test_the_budget_holds_when_the_sweep_starts(client, db, enqueued, start):
    subscribe(client)
    opened(client, db)
    _, [run_id] = comment(client, db, "/axon sweep tune-on-pr numRuns=4")

    start(run_id)

    with db.session() as session:
        trials = list(session.scalars(select(Run).where(Run.parent_id == run_id)))
        assert session.get(Run, run_id).kind == "matrix"
    assert len(trials) == 4
    # The grid's first four combinations, in key order.
    assert sorted((t.meta["matrix"]["lr"], t.meta["matrix"]["depth"]) for t in trials) == [
        (0.001, 1),
        (0.001, 2),
        (0.01, 1),
        (0.01, 2),
    ]


def test_sweep_without_numruns_keeps_the_matrixs_own_budget(client, db, enqueued):
    subscribe(client)
    opened(client, db)

    _, [run_id] = comment(client, db, "/axon sweep tune-on-pr")

    assert the_run(db, run_id).spec["matrix"] == GRID


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("numRuns=0", "numRuns: '0' is not a whole number of runs, 1 or more"),
        ("numRuns=two", "numRuns: 'two' is not a whole number of runs, 1 or more"),
        ("numRuns=2 numRuns=3", "argument 'numRuns' is given twice"),
        ("depth=2", "unknown argument 'depth'; known: note"),
    ],
)
def test_a_sweep_with_a_bad_argument_starts_nothing_and_says_why(
    client, db, enqueued, text, reason
):
    subscribe(client)
    opened(client, db)

    delivery_id, started = comment(client, db, f"/axon sweep tune-on-pr {text}")

    assert started == []
    _, checks = checks_of(db, delivery_id)
    assert ("command", False, f"/axon sweep tune-on-pr: {reason}") in checks


def test_numruns_beyond_what_the_grid_can_list_is_refused(client, db, enqueued):
    subscribe(client)
    opened(client, db)

    delivery_id, started = comment(client, db, "/axon sweep tune-on-pr numRuns=7")

    assert started == []
    made, checks = checks_of(db, delivery_id)
    assert made is None
    assert ("sweep", False, "numRuns: 7 is more than the 6 runs the grid matrix can make") in checks


def test_sweeping_an_operation_without_a_matrix_is_refused_in_the_decision_log(
    client, db, enqueued
):
    subscribe(client, matrix=None)
    opened(client, db)

    delivery_id, started = comment(client, db, "/axon sweep tune-on-pr numRuns=3")

    assert started == []
    made, checks = checks_of(db, delivery_id)
    assert made is None
    reason = "train has no matrix, so there is nothing to sweep; /axon run runs it"
    assert ("sweep", False, reason) in checks


@pytest.mark.parametrize(
    ("matrix", "num_runs", "budget"),
    [
        ({"kind": "random", "numRuns": 20, "params": GRID["params"]}, 5, {"numRuns": 5}),
        (
            {
                "kind": "bayes",
                "numInitialRuns": 3,
                "maxIterations": 20,
                "metric": {"name": "loss", "optimization": "minimize"},
                "utilityFunction": {"acquisitionFunction": "ei", "eps": 0.1},
                "params": {"lr": {"kind": "uniform", "value": [0.001, 0.1]}},
            },
            10,
            {"numInitialRuns": 3, "maxIterations": 7},
        ),
        (
            {"kind": "mapping", "values": [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}]},
            2,
            {"values": [{"lr": 0.1}, {"lr": 0.2}]},
        ),
    ],
)
def test_numruns_sets_each_kinds_own_budget(client, db, enqueued, matrix, num_runs, budget):
    subscribe(client, matrix=matrix)
    opened(client, db)

    _, [run_id] = comment(client, db, f"/axon sweep tune-on-pr numRuns={num_runs}")

    swept = the_run(db, run_id).spec["matrix"]
    assert {key: swept[key] for key in budget} == budget


def test_numruns_is_a_hyperopts_whole_budget(client, db, enqueued):
    hyperopt = {
        "kind": "hyperopt",
        "numRuns": 10,
        "maxIterations": 3,  # numRuns * maxIterations trials when left in place
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": {"lr": {"kind": "uniform", "value": [0.001, 0.1]}},
    }
    subscribe(client, matrix=hyperopt)
    opened(client, db)

    _, [run_id] = comment(client, db, "/axon sweep tune-on-pr numRuns=4")

    swept = the_run(db, run_id).spec["matrix"]
    assert swept["numRuns"] == 4
    assert "maxIterations" not in swept


def test_numruns_is_refused_for_a_kind_that_counts_rounds(client, db, enqueued):
    hyperband = {
        "kind": "hyperband",
        "maxIterations": 81,
        "eta": 3,
        "resource": {"name": "epochs", "type": "int"},
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": {"lr": {"kind": "uniform", "value": [0.001, 0.1]}},
    }
    subscribe(client, matrix=hyperband)
    opened(client, db)

    delivery_id, started = comment(client, db, "/axon sweep tune-on-pr numRuns=5")

    assert started == []
    _, checks = checks_of(db, delivery_id)
    reason = (
        "numRuns: a hyperband matrix counts its budget in rounds (maxIterations), not runs; "
        "set it in the operation"
    )
    assert ("sweep", False, reason) in checks


def test_declaring_numruns_as_a_sweep_argument_is_refused(client):
    setup_project(client, on={"push": {"branches": ["main"]}}, operation=search(GRID))
    bad = {
        "name": "bad",
        "on": {"comment": {"commands": {"sweep": {"args": {"numRuns": "int"}}}}},
        "operation": search(GRID),
    }

    response = client.post("/api/v1/projects/vision/subscriptions", json=bad)

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == "on.comment.commands.sweep.args.numRuns"
    assert error["reason"] == "sweep reads numRuns itself: the search's budget"


def test_a_sweep_reports_its_trials_and_best_in_one_pull_request_comment_edited_in_place(
    client, db, rt, axon, enqueued, local_runner, github
):
    github.expect_comment("Codertocat", "Hello-World", 2)
    github.expect_comment("Codertocat", "Hello-World", edit=True, times=None)
    hyperopt = {
        "kind": "hyperopt",
        "numRuns": 20,
        "concurrency": 1,
        "seed": 2,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    subscribe(client, matrix=hyperopt, report={"comment": {}})
    opened(client, db)
    _, [run_id] = comment(client, db, "/axon sweep tune-on-pr numRuns=3")
    engine = Engine(rt, db, axon, enqueued)
    engine.enqueued.append(("axon.start_run", (run_id,)))
    engine.work()
    reports.report_run(rt, run_id)  # the search has begun: the comment is posted

    engine.run_to_end(run_id)
    reports.report_run(rt, run_id)

    trials = engine.trials(run_id)
    assert len(trials) == 3
    best = min(trials, key=lambda t: t.outputs["loss"])
    sent = github.comments()
    assert [method for method, _, _ in sent].count("POST") == 1
    assert {method for method, _, _ in sent[1:]} == {"PATCH"}
    final = sent[-1][2]
    assert "succeeded" in final.splitlines()[1]
    assert f"**Best:** `trial #{best.meta['iteration']} loss=" in final
    assert all(f"| [`{t.op_name}`]" in final for t in trials)
