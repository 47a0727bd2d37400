"""A run kind the runner cannot run is refused, naming the runner that can; never run as a job."""

from __future__ import annotations

import json
import sys
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ci.runs import kinds, lifecycle
from ci.store.models import Project, Run
from runners.base import RunSpec
from runners.local import LocalRunner
from runners.registry import KINDS, runners
from tests.ci.conftest import operation, subscription

SERVICE_ON_LOCAL = (
    "a service cannot run on the local runner: set AXON_RUNNER=kubernetes "
    "(the kubernetes runner runs daskcluster, daskjob, job, mpijob, pytorchjob, raycluster, "
    "rayjob, service, spark, tfjob)"
)


@pytest.fixture
def settings(settings, tmp_path):
    """The test's settings, with a component hub holding a service (`hubRef: server`)."""
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "server.yaml").write_text(json.dumps(service_operation()["component"]))
    return settings.model_copy(update={"hub_dir": str(hub)})


def service_operation() -> dict[str, Any]:
    op = operation()
    op["component"]["run"] = {
        "kind": "service",
        "ports": [8080],
        "container": {"image": "python:3.11", "command": [sys.executable, "-m", "http.server"]},
    }
    op["component"]["inputs"] = []
    op["params"] = {}
    return op


def dag_operation(op: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "pipeline",
        "component": {
            "version": 1.1,
            "kind": "component",
            "run": {"kind": "dag", "operations": [dict(op, name="serve")]},
        },
    }


def test_refusal_names_the_runner_that_runs_the_kind():
    assert kinds.refusal("local", "service") == SERVICE_ON_LOCAL
    assert kinds.refusal("local", "tfjob").startswith("a tfjob cannot run on the local runner")
    assert kinds.refusal("local", "pytorchjob").startswith("a pytorchjob cannot run on the local")
    assert kinds.refusal("kubernetes", "flink") == (
        "a flink cannot run on the kubernetes runner: no runner runs flink"
    )


@pytest.mark.parametrize("kind", ["spark", "daskjob", "daskcluster", "rayjob", "raycluster"])
def test_the_local_runner_refuses_the_operators_kinds_naming_the_kubernetes_runner(kind: str):
    why = kinds.refusal("local", kind)

    assert why is not None and why.startswith(
        f"a {kind} cannot run on the local runner: set AXON_RUNNER=kubernetes"
    )


@pytest.mark.parametrize("kind", ["dag", "matrix", "schedule"])
def test_controllers_are_the_cores_and_run_with_any_runner(kind):
    assert kinds.refusal("local", kind) is None
    assert kinds.refusal("kubernetes", kind) is None


def test_each_runner_declares_the_kinds_the_registry_lists():
    for name in runners.names():
        assert runners.load(name).kinds == KINDS[name]
    assert kinds.refusal("local", "job") is None
    assert kinds.refusal("kubernetes", "service") is None


def test_a_subscription_whose_service_the_runner_cannot_run_is_refused(axon, client):
    axon.create_project()

    response = client.post(
        "/api/v1/projects/vision/subscriptions", json=subscription(operation=service_operation())
    )

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert (error["path"], error["reason"]) == ("operation.component.run.kind", SERVICE_ON_LOCAL)


def test_an_op_inside_a_dag_is_checked_too_and_apply_refuses_the_whole_file(axon, client):
    axon.create_project()
    docs = {"subscriptions": [subscription(operation=dag_operation(service_operation()))]}

    response = client.put("/api/v1/projects/vision/subscriptions", json=docs)

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert error["path"] == (
        "subscriptions[0].operation.component.run.operations[0].component.run.kind"
    )
    assert client.get("/api/v1/projects/vision/subscriptions").json == []


def test_a_service_named_by_hub_ref_is_refused_at_creation_too(axon, client):
    axon.create_project()
    op = {"version": 1.1, "kind": "operation", "name": "serve", "hubRef": "server"}

    response = client.post("/api/v1/projects/vision/subscriptions", json=subscription(operation=op))

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert (error["path"], error["reason"]) == (
        "operation.hubRef",
        f"its component's run.kind: {SERVICE_ON_LOCAL}",
    )


def test_a_job_subscription_is_accepted(axon, client):
    axon.create_project()
    response = client.post(
        "/api/v1/projects/vision/subscriptions", json=subscription(operation=operation())
    )
    assert response.status_code == 201


def test_a_run_whose_kind_got_past_creation_fails_at_compile_and_never_reaches_the_runner(
    axon, db, submitted, start
):
    axon.create_project()
    with db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        run = Run(project_id=project.id, name="serve", spec=service_operation(), event={})
        lifecycle.create(session, run)
        session.flush()
        run_id = run.id

    start(run_id)

    run = axon.run(run_id)
    assert run["status"] == "failed"
    failed = run["conditions"][-1]
    assert (failed["reason"], failed["message"]) == (
        "CompilationError",
        f"run.kind: {SERVICE_ON_LOCAL}",
    )
    assert submitted == []


def test_the_local_runner_never_runs_a_service_as_a_job(tmp_path):
    component = deepcopy(service_operation()["component"])
    spec = RunSpec(uuid="a" * 32, name="serve", project="vision", command=["true"],
                   component=component)  # fmt: skip

    with pytest.raises(ValueError, match="a service cannot run on the local runner"):
        LocalRunner(tmp_path).submit(spec)
    assert list(tmp_path.iterdir()) == []


BUILD_ON_LOCAL = (
    "the local runner cannot build images: a build runs its builder (kaniko) in a pod; "
    "set AXON_RUNNER=kubernetes (the kubernetes runner builds)"
)


def built_operation() -> dict[str, Any]:
    op = operation()
    destination = {"value": "registry.example.com/vision/train:{{ event.sha }}"}
    op["build"] = {"hubRef": "kaniko", "params": {"destination": destination}}
    return op


def test_a_subscription_that_builds_is_refused_on_the_local_runner(axon, client):
    axon.create_project()

    response = client.post(
        "/api/v1/projects/vision/subscriptions", json=subscription(operation=built_operation())
    )

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert (error["path"], error["reason"]) == ("operation.build", BUILD_ON_LOCAL)


def test_an_inline_components_build_is_refused_on_the_local_runner_too(axon, client):
    axon.create_project()
    op = built_operation()
    op["component"]["build"] = op.pop("build")

    response = client.post("/api/v1/projects/vision/subscriptions", json=subscription(operation=op))

    assert response.status_code == 422
    [error] = response.json["error"]["errors"]
    assert (error["path"], error["reason"]) == ("operation.component.build", BUILD_ON_LOCAL)


def test_a_build_that_got_past_creation_fails_at_compile_on_the_local_runner(
    axon, db, submitted, start
):
    axon.create_project()
    op = built_operation()
    with db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        run = Run(project_id=project.id, name="train", spec=op, event={})
        lifecycle.create(session, run)
        session.flush()
        run_id = run.id

    start(run_id)

    run = axon.run(run_id)
    failed = run["conditions"][-1]
    assert (run["status"], failed["reason"]) == ("failed", "CompilationError")
    assert failed["message"] == f"build: {BUILD_ON_LOCAL}"
    assert submitted == []


def test_a_build_its_hub_component_asks_for_fails_at_compile_on_the_local_runner(
    axon, db, submitted, start, settings
):
    axon.create_project()
    component = built_operation()["component"]
    component["build"] = built_operation()["build"]
    (Path(settings.hub_dir) / "builder.yaml").write_text(json.dumps(component))
    op = {"version": 1.1, "kind": "operation", "name": "train", "hubRef": "builder"}
    op["params"] = operation()["params"]
    push = {"clone_url": "https://github.com/acme/vision.git", "sha": "a" * 40}
    with db.session() as session:
        project = session.scalar(select(Project).where(Project.name == "vision"))
        run = Run(project_id=project.id, name="train", spec=op, event=push)
        lifecycle.create(session, run)
        session.flush()
        run_id = run.id

    start(run_id)

    run = axon.run(run_id)
    failed = run["conditions"][-1]
    assert (run["status"], failed["reason"]) == ("failed", "CompilationError")
    assert failed["message"] == f"build: {BUILD_ON_LOCAL}"
    assert submitted == []
