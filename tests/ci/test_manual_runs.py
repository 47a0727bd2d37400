"""Runs started by hand: `POST /api/v1/projects/<p>/runs` and `axon run`, with `--watch`."""

from __future__ import annotations

import sys
import textwrap
from typing import Any

import pytest
from click.testing import CliRunner

from ci.cli import client as cli_client
from ci.cli import running
from ci.cli.commands import main
from ci.runs import lifecycle
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.ci.cli_transport import PATHS, Api
from tests.ci.conftest import observed_to_end

S = RunStatus

POLYAXONFILE = textwrap.dedent(
    f"""\
    version: 1.1
    kind: component
    name: trainer
    inputs:
      - {{name: epochs, type: int, value: 3, isOptional: true}}
      - {{name: lr, type: float, value: 0.1, isOptional: true}}
    run:
      kind: job
      container:
        image: python:3.11
        command: [{sys.executable}, -c, "import sys; print('training', sys.argv[1:])"]
        args: ["--epochs={{{{ epochs }}}}", "--lr={{{{ lr }}}}"]
    """
)
PRESET = textwrap.dedent(
    """\
    version: 1.1
    kind: operation
    isPreset: true
    termination: {timeout: 42}
    """
)


@pytest.fixture
def project(client: Any) -> str:
    assert client.post("/api/v1/projects", json={"name": "vision"}).status_code == 201
    return "vision"


def started(client: Any, body: Any, project: str = "vision") -> Any:
    return client.post(f"/api/v1/projects/{project}/runs", json=body)


def run_id(db: Any, uuid: str) -> int:
    with db.session() as session:
        return int(session.query(Run.id).filter(Run.uuid == uuid).scalar())


def test_a_polyaxonfile_posted_to_a_project_creates_a_run_started_after_commit(
    client, db, enqueued, project
):
    body = {"content": POLYAXONFILE, "params": {"epochs": 5}, "actor": "alice"}

    response = started(client, body)

    assert response.status_code == 201, response.json
    run = response.json
    assert (run["project"], run["name"], run["kind"], run["status"]) == (
        "vision",
        "trainer",
        "job",
        "created",
    )
    assert (run["subscription"], run["delivery"]) == (None, None)
    assert run["event"] == {"kind": "manual", "actor": "alice"}
    [created] = run["conditions"]
    assert (created["reason"], created["message"]) == ("ManualRun", "started by alice")
    assert enqueued == [("axon.start_run", (run_id(db, run["uuid"]),))]


def test_a_run_started_by_hand_runs_on_the_local_runner_with_its_params(
    client, db, project, start, local_runner
):
    uuid = started(client, {"content": POLYAXONFILE, "params": {"epochs": 7}}).json["uuid"]

    start(run_id(db, uuid))

    run = client.get(f"/api/v1/runs/{uuid}").json
    assert run["status"] == "scheduled"
    assert run["inputs"] == {"epochs": 7, "lr": 0.1}
    assert run["compiled"]["command"][-2:] == ["--epochs=7", "--lr=0.1"]
    assert observed_to_end(local_runner, run["external_id"])[-1].status == S.SUCCEEDED


def test_presets_apply_over_the_polyaxonfile_in_order_and_the_name_over_both(client, db, project):
    later = PRESET.replace("timeout: 42", "timeout: 7")
    body = {"content": POLYAXONFILE, "presets": [PRESET, later], "name": "tuned"}

    run = started(client, body).json

    assert (run["name"], run["status"]) == ("tuned", "created")
    with db.session() as session:
        stored = session.query(Run).filter(Run.uuid == run["uuid"]).one()
        assert stored.spec["termination"] == {"timeout": 7}


def test_the_polyaxonfile_may_be_the_body_itself(client, project):
    response = client.post(
        "/api/v1/projects/vision/runs", data=POLYAXONFILE, content_type="application/yaml"
    )

    assert response.status_code == 201, response.json
    assert response.json["event"]["actor"] == "api"


def test_an_invalid_polyaxonfile_is_refused_with_field_line_and_column_and_nothing_is_created(
    client, db, enqueued, project
):
    body = {"content": POLYAXONFILE.replace("command:", "comand:")}

    response = started(client, body)

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == "run.container.comand"
    assert (error["line"], error["column"]) == (11, 5)
    with db.session() as session:
        assert session.query(Run).count() == 0
    assert enqueued == []


def test_a_param_that_does_not_fit_its_input_is_refused_naming_it(client, project):
    response = started(client, {"content": POLYAXONFILE, "params": {"epochs": "many"}})

    assert response.status_code == 422
    assert response.json["error"]["errors"][0]["path"] == "params.epochs"


def test_a_run_kind_the_runner_cannot_run_is_refused_naming_the_runner_that_can(client, project):
    service = POLYAXONFILE.replace("kind: job", "kind: service")

    response = started(client, {"content": service})

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == "component.run.kind"
    assert "cannot run on the local runner" in error["reason"]
    assert "AXON_RUNNER=kubernetes" in error["reason"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"params": {}}, 422, "content"),
        ({"content": POLYAXONFILE, "params": ["epochs=3"]}, 422, "params"),
        ({"content": POLYAXONFILE, "presets": "x"}, 422, "presets"),
        ({"content": POLYAXONFILE, "name": 3}, 422, "name"),
    ],
)
def test_a_malformed_request_names_the_field(client, project, body, status, field):
    response = started(client, body)

    assert response.status_code == status
    assert response.json["error"]["message"].startswith(f"{field}:")


def test_an_unknown_project_is_404(client):
    response = started(client, {"content": POLYAXONFILE}, project="nowhere")

    assert response.status_code == 404
    assert "nowhere" in response.json["error"]["message"]


# --- the `axon` command, talking to the app through its HTTP surface ---------------------------


@pytest.fixture
def api(client, db, monkeypatch) -> Api:
    transport = Api(client, db)
    monkeypatch.setattr(cli_client.requests, "request", transport)
    return transport


def axon(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"AXON_URL": "http://axon.test"})


@pytest.fixture
def polyaxonfile(tmp_path) -> str:
    path = tmp_path / "polyaxonfile.yaml"
    path.write_text(POLYAXONFILE)
    (tmp_path / "preset.yaml").write_text(PRESET)
    return str(path)


def test_axon_run_prints_the_uuid_and_url_of_the_run_it_started(api, polyaxonfile, project, db):
    result = axon("run", "-f", polyaxonfile, "-P", "epochs=9", "-P", "lr=0.5", "--project", project)

    assert result.exit_code == 0, result.output
    uuid, url = result.output.splitlines()
    assert url == f"http://axon.test/runs/{uuid}"
    with db.session() as session:
        run = session.query(Run).filter(Run.uuid == uuid).one()
        assert (run.spec["params"]["epochs"], run.spec["params"]["lr"]) == (
            {"value": 9},
            {"value": 0.5},
        )


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (S.SUCCEEDED, 0),
        (S.FAILED, 1),
        (S.UPSTREAM_FAILED, 1),
        (S.STOPPED, 3),
        (S.SKIPPED, 3),
    ],
)
def test_axon_run_watch_follows_the_run_and_exits_with_how_it_ended(
    api, polyaxonfile, project, outcome, code
):
    api.outcome = outcome

    result = axon(
        "run", "-f", polyaxonfile, "--project", project, "--watch", "--poll-interval", "0"
    )

    assert result.exit_code == code, result.output
    lines = result.output.splitlines()
    assert lines[2] == "[created] ManualRun: started by " + lines[2].rsplit(" ", 1)[-1]
    assert f"[{outcome}] Test: reached {outcome}" in lines
    if outcome not in (S.UPSTREAM_FAILED, S.SKIPPED):
        assert lines[-1] == "epoch 1 loss 0.3"


def test_axon_run_exits_2_when_the_file_is_refused_naming_the_field_and_line(
    api, polyaxonfile, project, tmp_path
):
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLYAXONFILE.replace("command:", "comand:"))

    result = axon("run", "-f", str(bad), "--project", project, "--watch")

    assert result.exit_code == 2
    assert "run.container.comand: " in result.output
    assert "(line 11)" in result.output


def test_axon_run_exits_2_for_an_unknown_project_or_a_malformed_param(api, polyaxonfile):
    unknown = axon("run", "-f", polyaxonfile, "--project", "nowhere")
    malformed = axon("run", "-f", polyaxonfile, "--project", "vision", "-P", "epochs")

    assert (unknown.exit_code, malformed.exit_code) == (2, 2)
    assert "no project named 'nowhere'" in unknown.output
    assert "'epochs': expected name=value" in malformed.output
    assert [r for r in api.requests if r[0] == "POST"] == [
        ("POST", "/api/v1/projects/nowhere/runs")
    ]


def test_axon_run_applies_preset_files_given_after_the_polyaxonfile(api, polyaxonfile, project, db):
    preset = polyaxonfile.replace("polyaxonfile.yaml", "preset.yaml")

    result = axon("run", "-f", polyaxonfile, "-f", preset, "--project", project)

    assert result.exit_code == 0, result.output
    with db.session() as session:
        run = session.query(Run).filter(Run.uuid == result.output.split()[0]).one()
        assert run.spec["termination"] == {"timeout": 42}


@pytest.mark.parametrize(
    "body",
    [
        {"content": "[1, 2]"},
        {"content": "version: 1.1\nkind: component\nrun: ["},
        {"content": {"kind": "component"}},
        {"content": "kind: operation\nversion: 1.1\nisPreset: true\nname: x"},
        {"content": POLYAXONFILE, "presets": [{"foo": 1}]},
        {"content": POLYAXONFILE, "presets": ["kind: component"]},
        {"content": POLYAXONFILE, "params": {"nothing": 1}},
        {"content": POLYAXONFILE, "params": {"epochs": {"deep": [1, {"x": None}]}}},
    ],
)
def test_an_odd_document_is_refused_with_a_reason_never_a_crash(client, db, project, body):
    response = started(client, body)

    assert response.status_code in (400, 422), response.json
    assert response.json["error"]["message"]
    with db.session() as session:
        assert session.query(Run).count() == 0


def test_watching_a_pipeline_prints_a_line_per_op_as_its_status_changes(api, db, project, capsys):
    with db.session() as session:
        project_id = session.query(Project.id).filter(Project.name == project).scalar()
        dag = Run(project_id=project_id, name="pipeline", kind="dag", spec={}, event={})
        lifecycle.create(session, dag, "ManualRun", "started by alice")
        session.flush()
        lifecycle.transition(session, dag, S.COMPILED, "Compiled")
        lifecycle.transition(session, dag, S.RUNNING, "Running")
        for op, path in (("prepare", PATHS[S.SUCCEEDED]), ("train", PATHS[S.SKIPPED])):
            child = Run(project_id=project_id, name=op, op_name=op, parent_id=dag.id, spec={})
            lifecycle.create(session, child, "Test")
            for status in path:
                lifecycle.transition(session, child, status, "Test")
        lifecycle.transition(session, dag, S.SUCCEEDED, "Test", "every op is done")
        uuid = dag.uuid

    assert running.follow(uuid, poll_interval=0) == "succeeded"

    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:] == [
        "[succeeded] Test: every op is done",
        "  prepare: succeeded",
        "  train: skipped",
    ]
    # A pipeline has no logs of its own: its ops' statuses are what is shown.
    assert not [path for method, path in api.requests if path.endswith("/logs")]


PIPELINE = textwrap.dedent(
    """\
    version: 1.1
    kind: operation
    name: pipeline
    component:
      run:
        kind: dag
        operations:
          - name: prepare
            component:
              run: {kind: job, container: {image: alpine, command: [echo, prepared]}}
          - name: train
            dependencies: [prepare]
            component:
              run: {kind: KIND, container: {image: alpine, command: [echo, trained]}}
    """
)


def test_a_pipeline_started_by_hand_is_one_run_of_kind_dag_for_the_engine(client, project):
    response = started(client, {"content": PIPELINE.replace("KIND", "job")})

    assert response.status_code == 201, response.json
    assert (response.json["kind"], response.json["status"]) == ("dag", "created")


def test_a_pipeline_op_the_runner_cannot_run_is_refused_naming_the_op(client, project):
    response = started(client, {"content": PIPELINE.replace("KIND", "service")})

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == "component.run.operations[1].component.run.kind"
    assert "a service cannot run on the local runner" in error["reason"]
