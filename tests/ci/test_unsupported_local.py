"""What the local runner cannot carry out is refused at compile time, never run without it.

A run on the local runner is a process on the host: its command, args and env. A component that
asks for more (a volume, a mount, a secret, a node, a GPU...) fails `CompilationError` naming
each field and saying to run it on kubernetes; cpu and memory are scheduling hints it ignores.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ci.runs import kinds
from runners.local import LocalRunner
from tests.ci.conftest import operation
from tests.ci.test_pipelines import Pipeline, dag, op

JOB: dict[str, Any] = {"kind": "job", "container": {"image": "python:3.11", "command": ["true"]}}


def component(container: dict[str, Any] | None = None, **run: Any) -> dict[str, Any]:
    found = copy.deepcopy(JOB)
    found["container"].update(container or {})
    return {"run": {**found, **run}}


@pytest.mark.parametrize(
    ("fields", "path", "cannot"),
    [
        ({"volumes": [{"name": "data", "emptyDir": {}}]}, "run.volumes", "provide volumes"),
        ({"connections": ["s3"]}, "run.connections", "resolve connections"),
        ({"init": [{"git": {"url": "https://x"}}]}, "run.init", "run init steps"),
        ({"sidecars": [{"name": "s", "image": "busybox"}]}, "run.sidecars", "run sidecars"),
        (
            {"environment": {"nodeSelector": {"pool": "gpu"}}},
            "run.environment.nodeSelector",
            "choose the node a run goes to",
        ),
        (
            {"environment": {"serviceAccountName": "trainer"}},
            "run.environment.serviceAccountName",
            "run as a service account",
        ),
        ({"environment": {"labels": {"team": "a"}}}, "run.environment.labels", "label a pod"),
    ],
)
def test_a_run_field_a_host_process_cannot_have_is_named(fields, path, cannot):
    assert LocalRunner.unsupported(component(**fields)) == [
        (f"component.{path}", f"the local runner cannot {cannot}: run it on kubernetes")
    ]


@pytest.mark.parametrize(
    ("container", "path", "cannot"),
    [
        ({"volumeMounts": [{"name": "d", "mountPath": "/d"}]}, "volumeMounts", "mount volumes"),
        (
            {"envFrom": [{"secretRef": {"name": "creds"}}]},
            "envFrom",
            "fill env from secrets or config maps",
        ),
        (
            {"env": [{"name": "A", "value": "1"}, {"name": "T", "valueFrom": {"x": {}}}]},
            "env[1].valueFrom",
            "fill an env variable from a secret or a field",
        ),
        (
            {"workingDir": "/app"},
            "workingDir",
            "change to a working directory (a run starts in its checkout)",
        ),
        (
            {"securityContext": {"runAsUser": 0}},
            "securityContext",
            "set a security context (a run is a process of the worker's user)",
        ),
        ({"livenessProbe": {"exec": {"command": ["true"]}}}, "livenessProbe", "probe a process"),
        ({"lifecycle": {"preStop": {}}}, "lifecycle", "run lifecycle hooks"),
        ({"tty": True}, "tty", "allocate a tty"),
        (
            {"resources": {"limits": {"cpu": 2, "nvidia.com/gpu": 1}}},
            "resources.limits.nvidia.com/gpu",
            "give a run nvidia.com/gpu",
        ),
    ],
)
def test_a_container_field_a_host_process_cannot_have_is_named(container, path, cannot):
    assert LocalRunner.unsupported(component(container)) == [
        (
            f"component.run.container.{path}",
            f"the local runner cannot {cannot}: run it on kubernetes",
        )
    ]


def test_cpu_memory_ports_and_the_image_are_not_refused():
    # cpu and memory only place a pod (README: the local runner ignores them); ports of a job
    # only document what it listens on; the image is the name of what the host provides.
    asked = component(
        {
            "imagePullPolicy": "Always",
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 2}},
            "ports": [{"containerPort": 8080}],
            "env": [{"name": "A", "value": "1"}],
            "tty": False,  # asks for nothing
        },
        volumes=[],
    )
    assert LocalRunner.unsupported(asked) == []


def test_every_field_refused_is_named_at_once():
    asked = component({"volumeMounts": [{"name": "d"}]}, volumes=[{"name": "d"}])
    assert [path for path, _ in LocalRunner.unsupported(asked)] == [
        "component.run.volumes",
        "component.run.container.volumeMounts",
    ]


def test_the_kubernetes_runner_and_the_core_controllers_refuse_none_of_them():
    asked = component({"volumeMounts": [{"name": "d"}]}, volumes=[{"name": "d"}])
    assert kinds.field_refusal("kubernetes", "job", asked) is None
    assert kinds.field_refusal("local", "dag", {"run": {"kind": "dag", "volumes": [{}]}}) is None
    assert kinds.field_refusal("local", "job", asked) is not None


def mounting() -> dict[str, Any]:
    spec = operation()
    run = spec["component"]["run"]
    run["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    run["container"]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return spec


def test_a_pushed_run_asking_for_a_volume_fails_at_compile_and_never_reaches_the_runner(
    axon, start, submitted
):
    axon.create_project()
    axon.subscribe(operation=mounting())
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    last = run["conditions"][-1]
    assert (run["status"], last["reason"]) == ("failed", "CompilationError")
    assert last["message"] == (
        "component.run.volumes: the local runner cannot provide volumes: run it on kubernetes; "
        "component.run.container.volumeMounts: the local runner cannot mount volumes: "
        "run it on kubernetes"
    )
    assert submitted == []


def test_a_run_with_cpu_and_memory_requests_runs_on_the_local_runner(axon, start, submitted):
    spec = operation()
    spec["component"]["run"]["container"]["resources"] = {"requests": {"cpu": 1, "memory": "1Gi"}}
    axon.create_project()
    axon.subscribe(operation=spec)
    [run_id] = axon.push()

    start(run_id)

    assert axon.run(run_id)["status"] == "scheduled"
    assert [s.name for s in submitted] == ["train"]


def test_a_dag_op_asking_for_a_mount_fails_alone_and_its_downstream_does_not_start(
    rt, db, axon, enqueued, local_runner, submitted
):
    pipeline = Pipeline(rt, db, axon, enqueued)
    mounted = {"container": {"volumeMounts": [{"name": "d", "mountPath": "/d"}]}}
    run_id = pipeline.push(dag(op("fetch"), op("mount", runPatch=mounted), op("train", "mount")))

    assert pipeline.statuses(run_id) == {
        "fetch": "scheduled",
        "mount": "failed",
        "train": "upstream_failed",
    }
    [failed] = pipeline.history(pipeline.child(run_id, "mount").id)[-1:]
    assert failed[:2] == ("failed", "CompilationError")
    assert failed[2].startswith("component.run.container.volumeMounts: the local runner cannot")
    assert [s.name for s in submitted] == ["fetch"]
