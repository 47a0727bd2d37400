"""A search where users look: its trials with their params and metric in the API and `axon ops
ls --parent`, and its best trial named on the parent in the API, the CLI, the pull-request
comment and Slack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ci.cli import client as cli_client
from ci.cli.commands import main
from ci.reporting.building import report as build_report
from ci.runs import lifecycle, metrics
from ci.store.models import Project, Run
from notifiers import markdown, render, slack
from schemas.status import RunStatus
from tests.ci.cli_transport import Api
from tests.ci.test_searches import SPACE, loss
from tests.ci.test_searches import Search as Engine
from tests.ci.test_searches import search as operation

S = RunStatus
MATRIX = {
    "kind": "bayes",
    "metric": {"name": "loss", "optimization": "minimize"},
    "params": {"lr": {"kind": "uniform", "value": [0.001, 0.1]}},
}
DONE_PATH = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)


class Search:
    """A running search of project "vision" and its trials, by op name."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.ids: dict[str, int] = {}
        with db.session() as session:
            project = Project(name="vision")
            session.add(project)
            run = Run(project=project, name="tune", kind="matrix", runner="local")
            run.meta = {"search": {"matrix": MATRIX, "seed": 1, "kind": "job"}}
            lifecycle.create(session, run)
            session.flush()
            for status in (S.COMPILED, S.RUNNING):
                lifecycle.transition(session, run, status)
            self.ids["tune"] = run.id

    def trial(self, number: int, status: S, params: dict[str, Any], **outputs: Any) -> str:
        """Trial `tune#<number>`, moved to `status`, with `outputs`."""
        with self.db.session() as session:
            project = session.scalar(select(Project).where(Project.name == "vision"))
            name = f"tune#{number}"
            run = Run(project=project, name="tune", kind="job", runner="local")
            run.parent_id, run.op_name = self.ids["tune"], name
            run.meta = {"matrix": params, "params": params, "iteration": number, "seq": number}
            run.outputs = outputs or None
            lifecycle.create(session, run)
            session.flush()
            path = DONE_PATH + (status,) if status != S.RUNNING else DONE_PATH
            for step in path:
                if step == S.SCHEDULED:
                    run.external_id = f"local-{name}"
                lifecycle.transition(session, run, step)
            self.ids[name] = run.id
            return run.uuid

    def report_series(self, name: str, *values: float) -> None:
        with self.db.session() as session:
            run = session.get(Run, self.ids[name], with_for_update=True)
            reports = [metrics.Report("loss", step, v) for step, v in enumerate(values)]
            metrics.record(session, run, reports)

    def record_best(self, name: str, value: float) -> None:
        """What the search controller writes once `name` is its best trial."""
        with self.db.session() as session:
            trial = session.get(Run, self.ids[name])
            parent = session.get(Run, self.ids["tune"])
            best = {"uuid": trial.uuid, "params": trial.meta["params"], "value": value}
            parent.meta = {**parent.meta, "best": {**best, "metric": "loss"}}

    def uuid(self, name: str) -> str:
        with self.db.session() as session:
            return session.get(Run, self.ids[name]).uuid


@pytest.fixture
def search(db, enqueued) -> Search:
    found = Search(db)
    found.trial(0, S.SUCCEEDED, {"lr": 0.05}, loss=0.4)
    found.trial(1, S.SUCCEEDED, {"lr": 0.01}, loss=0.9)
    found.report_series("tune#1", 0.5, 0.12)  # its series' last value is what counts
    found.trial(2, S.RUNNING, {"lr": 0.002})
    found.record_best("tune#1", 0.12)
    return found


@pytest.fixture
def axon_cli(client, db, monkeypatch):
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env={"AXON_URL": "http://axon.test"})

    return invoke


def test_the_list_of_a_parents_runs_gives_each_trials_params_and_metric(search, client):
    response = client.get(f"/api/v1/runs?parent={search.uuid('tune')}&sort=id")

    assert response.status_code == 200
    assert [(r["op_name"], r["params"], r["metric"]) for r in response.json] == [
        ("tune#0", {"lr": 0.05}, {"name": "loss", "value": 0.4}),
        ("tune#1", {"lr": 0.01}, {"name": "loss", "value": 0.12}),
        ("tune#2", {"lr": 0.002}, {"name": "loss", "value": None}),
    ]


def test_the_parent_filter_goes_with_a_query(search, client):
    parent = search.uuid("tune")

    response = client.get(f"/api/v1/runs?parent={parent}&query=metrics.loss:<0.5&sort=id")

    assert [r["op_name"] for r in response.json] == ["tune#0"]  # outputs: 0.4 and 0.9


def test_an_unknown_parent_gets_404(search, client):
    response = client.get("/api/v1/runs?parent=no-such-run")

    assert response.status_code == 404
    assert response.json["error"]["message"] == "no run 'no-such-run'"


def test_the_children_of_a_search_are_its_trials_with_params_and_metric(search, client):
    response = client.get(f"/api/v1/runs/{search.uuid('tune')}/children?limit=2")

    assert [(r["params"], r["metric"]["value"]) for r in response.json] == [
        ({"lr": 0.05}, 0.4),
        ({"lr": 0.01}, 0.12),
    ]


def test_the_parents_view_names_its_best_trial(search, client):
    shown = client.get(f"/api/v1/runs/{search.uuid('tune')}").json

    assert shown["best"] == {
        "uuid": search.uuid("tune#1"),
        "trial": 1,
        "op_name": "tune#1",
        "params": {"lr": 0.01},
        "metric": "loss",
        "value": 0.12,
    }
    assert (shown["params"], shown["metric"]) == (None, None)  # a search is no trial


def test_a_search_with_no_best_yet_says_none(db, client, enqueued):
    search = Search(db)
    search.trial(0, S.RUNNING, {"lr": 0.05})

    assert client.get(f"/api/v1/runs/{search.uuid('tune')}").json["best"] is None


def test_a_run_outside_any_search_has_no_params_metric_or_best(search, client):
    with search.db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        run = Run(project=project, name="lone", kind="job", runner="local")
        lifecycle.create(session, run)
        session.flush()
        uuid = run.uuid

    shown = client.get(f"/api/v1/runs/{uuid}").json

    assert (shown["params"], shown["metric"], shown["best"]) == (None, None, None)


def test_axon_ops_ls_parent_lists_the_trials_with_params_and_metric(search, axon_cli):
    result = axon_cli("ops", "ls", "--parent", search.uuid("tune"), "-s", "id")

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{search.uuid('tune#0')}\tsucceeded\ttune#0\tlr=0.05\tloss=0.4\n"
        f"{search.uuid('tune#1')}\tsucceeded\ttune#1\tlr=0.01\tloss=0.12\n"
        f"{search.uuid('tune#2')}\trunning\ttune#2\tlr=0.002\tloss=-\n"
    )


def test_axon_ops_get_names_the_best_trial(search, axon_cli):
    result = axon_cli("ops", "get", search.uuid("tune"))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["best"]["uuid"] == search.uuid("tune#1")
    assert result.stderr == f"best: trial #1 loss=0.12 (lr=0.01) {search.uuid('tune#1')}\n"


def the_report(rt: Any, db: Any, run_id: int) -> Any:
    with db.session() as session:
        run = session.get(Run, run_id)
        return build_report(rt, run, run.conditions[-1], session)


def test_the_search_report_names_its_best_trial_and_lists_its_trials(search, rt, db):
    report = the_report(rt, db, search.ids["tune"])

    assert report.best == "best: trial #1 loss=0.12 (lr=0.01)"
    assert [op.name for op in report.ops] == ["tune#0", "tune#1", "tune#2"]
    comment = markdown.body(report)
    assert "**Best:** `trial #1 loss=0.12 (lr=0.01)`" in comment
    assert comment.index("**Best:**") < comment.index("| Op |")
    assert "Best: trial #1 loss=0.12 (lr=0.01)" in render.details(report)
    sections = [b["text"]["text"] for b in slack.message(report)["blocks"] if "text" in b]
    assert "*Best:* trial #1 loss=0.12 (lr=0.01)" in sections


def test_a_run_that_is_no_search_reports_no_best(search, rt, db):
    report = the_report(rt, db, search.ids["tune#0"])

    assert report.best == ""
    assert "Best" not in markdown.body(report)
    assert "Best" not in json.dumps(slack.message(report))


def test_the_best_line_keeps_a_few_params_and_counts_the_rest(db, rt, enqueued):
    search = Search(db)
    many = {f"p{index}": index for index in range(8)}
    search.trial(0, S.SUCCEEDED, many, loss=0.5)
    search.record_best("tune#0", 0.5)

    report = the_report(rt, db, search.ids["tune"])

    shown = ", ".join(f"p{index}={index}" for index in range(6))
    assert report.best == f"best: trial #0 loss=0.5 ({shown}, … 2 more)"


def test_a_finished_search_names_the_trial_it_found_best_everywhere(
    rt, db, axon, enqueued, local_runner, client
):
    # The search engine itself runs the trials and records the best.
    engine = Engine(rt, db, axon, enqueued)
    matrix = {
        "kind": "hyperopt",
        "numRuns": 4,
        "concurrency": 2,
        "seed": 5,
        "metric": {"name": "loss", "optimization": "minimize"},
        "params": SPACE,
    }
    run_id = engine.push(operation(matrix))
    engine.run_to_end(run_id)
    trials = engine.trials(run_id)
    best = min(trials, key=lambda t: t.outputs["loss"])
    uuid = engine.run(run_id).uuid

    listed = client.get(f"/api/v1/runs?parent={uuid}&sort=metrics.loss&limit=1").json
    shown = client.get(f"/api/v1/runs/{uuid}").json
    report = the_report(rt, db, run_id)

    assert [(r["uuid"], r["metric"]["value"]) for r in listed] == [
        (best.uuid, loss(best.meta["params"]))
    ]
    assert (shown["best"]["uuid"], shown["best"]["trial"]) == (best.uuid, best.meta["iteration"])
    assert report.best.startswith(f"best: trial #{best.meta['iteration']} loss=")
