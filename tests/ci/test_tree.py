"""The run tree: a pipeline's children through the API, stopping a parent with its live
children, and deleting a subtree only once nothing in it lives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ci.cli import client as cli_client
from ci.cli.commands import main
from ci.runs import groups, lifecycle, tree
from ci.store.models import Condition, Project, Run
from schemas.status import RunStatus
from tests.ci.cli_transport import Api

S = RunStatus
# How far each kind of run got: a controller runs without a runner; a job a runner holds is
# scheduled with the runner's id.
PATHS = {
    S.CREATED: [],
    S.QUEUED: [S.COMPILED, S.QUEUED],
    S.SCHEDULED: [S.COMPILED, S.QUEUED, S.SCHEDULED],
    S.RUNNING: [S.COMPILED, S.RUNNING],
    S.SUCCEEDED: [S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING, S.SUCCEEDED],
}


class Tree:
    """Runs of project "vision" arranged in a tree, by name."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.ids: dict[str, int] = {}
        with db.session() as session:
            session.add(Project(name="vision"))

    def add(self, name: str, status: S, kind: str = "job", parent: str | None = None) -> int:
        with self.db.session() as session:
            project = session.scalar(select(Project).where(Project.name == "vision"))
            run = Run(project=project, name=name, kind=kind, runner="local")
            if parent is not None:
                run.parent_id, run.op_name = self.ids[parent], name
            lifecycle.create(session, run)
            session.flush()
            for step in PATHS[status]:
                if step == S.SCHEDULED:
                    run.external_id = f"local-{name}"
                lifecycle.transition(session, run, step)
            self.ids[name] = run.id
            return run.id

    def status(self, name: str) -> str:
        with self.db.session() as session:
            return session.get(Run, self.ids[name]).status

    def last_message(self, name: str) -> str:
        with self.db.session() as session:
            query = select(Condition.message).where(Condition.run_id == self.ids[name])
            return session.scalars(query.order_by(Condition.id.desc()).limit(1)).one()

    def uuid(self, name: str) -> str:
        with self.db.session() as session:
            return session.get(Run, self.ids[name]).uuid

    def stop(self, name: str, why: str = "stop requested") -> list[int]:
        with self.db.session() as session:
            run = session.get(Run, self.ids[name], with_for_update=True)
            return tree.stop(session, run, why)


@pytest.fixture
def runs(db, enqueued) -> Tree:
    return Tree(db)


@pytest.fixture
def pipeline(runs: Tree) -> Tree:
    """A running dag: a job a runner holds, a queued job, a finished job, and a nested dag
    running one job of its own."""
    runs.add("pipeline", S.RUNNING, kind="dag")
    runs.add("train", S.SCHEDULED, parent="pipeline")
    runs.add("evaluate", S.QUEUED, parent="pipeline")
    runs.add("prepare", S.SUCCEEDED, parent="pipeline")
    runs.add("inner", S.RUNNING, kind="dag", parent="pipeline")
    runs.add("tune", S.SCHEDULED, parent="inner")
    return runs


def test_stopping_a_pipeline_stops_each_live_child_saying_why(pipeline):
    on_runner = pipeline.stop("pipeline", "stop requested by alice")

    assert sorted(on_runner) == sorted([pipeline.ids["train"], pipeline.ids["tune"]])
    statuses = {name: pipeline.status(name) for name in pipeline.ids}
    assert statuses == {
        "pipeline": "stopping",  # its runner-held children have yet to end
        "train": "stopping",
        "evaluate": "stopped",
        "prepare": "succeeded",
        "inner": "stopping",
        "tune": "stopping",
    }
    because = f"stopped with its parent run {pipeline.ids['pipeline']}: stop requested by alice"
    assert pipeline.last_message("train") == because
    assert pipeline.last_message("evaluate") == f"{because}; before it started"
    assert pipeline.last_message("inner") == because
    assert pipeline.last_message("tune") == (
        f"stopped with its parent run {pipeline.ids['inner']}: {because}"
    )
    assert pipeline.last_message("pipeline") == "stop requested by alice"


def test_a_pipeline_whose_children_all_stop_at_once_is_stopped_at_once(runs):
    runs.add("pipeline", S.RUNNING, kind="dag")
    runs.add("train", S.QUEUED, parent="pipeline")
    runs.add("evaluate", S.CREATED, parent="pipeline")

    assert runs.stop("pipeline") == []

    assert [runs.status(n) for n in ("pipeline", "train", "evaluate")] == ["stopped"] * 3


def test_a_controller_with_no_child_yet_is_stopped_at_once(runs):
    runs.add("schedule", S.RUNNING, kind="schedule")

    assert runs.stop("schedule") == []

    assert runs.status("schedule") == "stopped"


def test_stopping_a_stopping_pipeline_again_asks_no_runner_twice(pipeline):
    pipeline.stop("pipeline")

    assert pipeline.stop("pipeline") == []
    assert pipeline.status("pipeline") == "stopping"


def test_stopping_a_done_run_changes_nothing(runs):
    runs.add("pipeline", S.RUNNING, kind="dag")
    runs.add("prepare", S.SUCCEEDED, parent="pipeline")

    assert runs.stop("prepare") == []

    assert runs.status("prepare") == "succeeded"
    assert runs.status("pipeline") == "running"


def test_the_stop_endpoint_stops_the_tree_and_tells_the_runners_after_commit(
    pipeline, client, enqueued
):
    response = client.post(f"/api/v1/runs/{pipeline.uuid('pipeline')}/stop")

    assert response.status_code == 202
    assert response.json["status"] == "stopping"
    told = sorted(args for name, args in enqueued if name == "axon.stop_run")
    assert told == sorted([(pipeline.ids["train"],), (pipeline.ids["tune"],)])


def test_a_concurrency_group_stopping_a_pipeline_stops_its_children(pipeline, db, enqueued):
    with db.session() as session:
        run = session.get(Run, pipeline.ids["pipeline"], with_for_update=True)
        groups.stop(session, run, "superseded by a newer push")

    told = sorted(args for name, args in enqueued if name == "axon.stop_run")
    assert told == sorted([(pipeline.ids["train"],), (pipeline.ids["tune"],)])
    assert pipeline.last_message("evaluate").startswith(
        f"stopped with its parent run {pipeline.ids['pipeline']}: superseded by a newer push"
    )


def test_a_runs_view_shows_its_parent_and_its_children(pipeline, client):
    parent = client.get(f"/api/v1/runs/{pipeline.uuid('pipeline')}").json
    child = client.get(f"/api/v1/runs/{pipeline.uuid('tune')}").json

    assert parent["parent"] is None
    assert parent["children_count"] == 4
    assert [c["op_name"] for c in parent["children"]] == ["train", "evaluate", "prepare", "inner"]
    assert parent["children"][3] == {
        "uuid": pipeline.uuid("inner"),
        "name": "inner",
        "op_name": "inner",
        "kind": "dag",
        "status": "running",
    }
    assert (child["parent"], child["op_name"], child["id"]) == (
        pipeline.uuid("inner"),
        "tune",
        pipeline.ids["tune"],
    )


def test_children_are_listed_oldest_first_in_pages(pipeline, client):
    url = f"/api/v1/runs/{pipeline.uuid('pipeline')}/children"

    page = client.get(url, query_string={"limit": 2, "offset": 1})

    assert page.status_code == 200
    assert [c["op_name"] for c in page.json] == ["evaluate", "prepare"]
    assert {c["parent"] for c in page.json} == {pipeline.uuid("pipeline")}
    assert client.get(f"{url}?offset=9").json == []
    assert client.get(f"/api/v1/runs/{pipeline.uuid('train')}/children").json == []


def test_children_of_an_unknown_run_get_404(client):
    assert client.get("/api/v1/runs/nope/children").status_code == 404


def test_a_run_query_finds_a_pipelines_children(pipeline, client):
    query = f"parent:{pipeline.uuid('pipeline')}, status:queued|scheduled"

    found = client.get("/api/v1/runs", query_string={"query": query, "sort": "name"})

    assert [r["name"] for r in found.json] == ["evaluate", "train"]


def test_deleting_a_run_whose_children_live_is_refused_naming_them(pipeline, client):
    pipeline.stop("pipeline")  # train and tune are stopping: their runners have yet to end them

    response = client.delete(f"/api/v1/runs/{pipeline.uuid('inner')}")

    assert response.status_code == 409
    error = response.json["error"]
    assert (
        error["message"] == f"run {pipeline.uuid('inner')} is stopping: stop it before deleting it"
    )
    response = client.delete(f"/api/v1/runs/{pipeline.uuid('pipeline')}")
    assert response.status_code == 409


def test_deleting_a_done_run_with_a_live_descendant_is_refused_naming_it(runs, client):
    runs.add("pipeline", S.RUNNING, kind="dag")
    runs.add("train", S.SCHEDULED, parent="pipeline")
    runs.stop("pipeline")  # the dag would be stopping; say the engine ended it already
    with runs.db.session() as session:
        lifecycle.transition(session, session.get(Run, runs.ids["pipeline"]), S.STOPPED)

    response = client.delete(f"/api/v1/runs/{runs.uuid('pipeline')}")

    assert response.status_code == 409
    error = response.json["error"]
    assert f"{runs.uuid('train')} (train, stopping)" in error["message"]
    assert error["live"] == [runs.uuid("train")]


def test_deleting_a_done_pipeline_deletes_its_subtree(runs, client):
    runs.add("pipeline", S.RUNNING, kind="dag")
    runs.add("inner", S.RUNNING, kind="dag", parent="pipeline")
    runs.add("train", S.QUEUED, parent="inner")
    runs.stop("pipeline")
    uuids = {name: runs.uuid(name) for name in runs.ids}

    response = client.delete(f"/api/v1/runs/{uuids['pipeline']}")

    assert response.status_code == 204
    assert [client.get(f"/api/v1/runs/{u}").status_code for u in uuids.values()] == [404] * 3


def test_deleting_a_run_that_still_lives_is_refused(runs, client):
    runs.add("train", S.QUEUED)

    response = client.delete(f"/api/v1/runs/{runs.uuid('train')}")

    assert response.status_code == 409
    assert client.get(f"/api/v1/runs/{runs.uuid('train')}").status_code == 200


@pytest.fixture
def axon_cli(client, db, monkeypatch):
    """The `axon` command, its calls answered by the app in process."""
    monkeypatch.setattr(cli_client.requests, "request", Api(client, db))

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env={"AXON_URL": "http://axon.test"})

    return invoke


def test_axon_ops_children_lists_a_pipelines_ops(pipeline, axon_cli):
    result = axon_cli("ops", "children", pipeline.uuid("pipeline"), "--offset", "2")

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{pipeline.uuid('prepare')}\tsucceeded\tprepare\tjob\n"
        f"{pipeline.uuid('inner')}\trunning\tinner\tdag\n"
    )


def test_axon_ops_ls_passes_the_query_sort_and_page(pipeline, axon_cli):
    query = f"parent:{pipeline.uuid('pipeline')}, kind:job"

    result = axon_cli("ops", "ls", "-q", query, "-s", "-name", "-l", "2", "--offset", "1")

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{pipeline.uuid('prepare')}\tsucceeded\tvision/prepare\n"
        f"{pipeline.uuid('evaluate')}\tqueued\tvision/evaluate\n"
    )


def test_axon_ops_ls_says_which_term_is_wrong(runs, axon_cli):
    result = axon_cli("ops", "ls", "-q", "status:done")

    assert result.exit_code != 0
    assert "query term 'status:done': no status 'done'" in result.output


def test_axon_ops_get_shows_the_parent_and_the_children(pipeline, axon_cli):
    inner = json.loads(axon_cli("ops", "get", pipeline.uuid("inner")).output)

    assert inner["parent"] == pipeline.uuid("pipeline")
    assert [c["op_name"] for c in inner["children"]] == ["tune"]
