"""Services and distributed training on the simulated cluster: Deployments and Kubeflow jobs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes import PodScript, fixtures
from tests.fakes.kubernetes.fixtures import NS, conditions

# The shared fixtures, by name, for pytest to find.
k8s = fixtures.k8s
api = fixtures.api
batch = fixtures.batch
core = fixtures.core


def deployment_manifest(name: str, image: str = "tensorflow/tensorflow:2.16.1") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "board", "image": image, "ports": [{"containerPort": 6006}]}
                    ]
                },
            },
        },
    }


def test_a_deployment_becomes_available_behind_its_service(k8s, api, core):
    apps = client.AppsV1Api(api)
    rv = apps.list_namespaced_deployment(NS).metadata.resource_version
    apps.create_namespaced_deployment(NS, deployment_manifest("board"))
    service = core.create_namespaced_service(
        NS,
        {
            "metadata": {"name": "board"},
            "spec": {"selector": {"app": "board"}, "ports": [{"port": 80, "targetPort": 6006}]},
        },
    )

    for event in watch.Watch().stream(
        apps.list_namespaced_deployment, NS, resource_version=rv, timeout_seconds=5
    ):
        deployment = event["object"]
        if ("Available", "True", "MinimumReplicasAvailable") in conditions(deployment):
            break

    assert deployment.status.ready_replicas == deployment.status.available_replicas == 1
    assert service.spec.cluster_ip.startswith("10.96.")
    assert service.spec.ports[0].protocol == "TCP"
    [pod] = core.list_namespaced_pod(NS, label_selector="app=board").items
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert pod.status.phase == "Running"

    apps.delete_namespaced_deployment("board", NS)
    k8s.wait_for(lambda: not k8s.objects("pods") and not k8s.objects("replicasets"))


def test_a_deployment_whose_image_never_pulls_times_out_progressing(k8s, api):
    apps = client.AppsV1Api(api)
    k8s.script("app=board", PodScript(image_pull_error="not found"))
    manifest = deployment_manifest("board")
    manifest["spec"]["progressDeadlineSeconds"] = 2

    apps.create_namespaced_deployment(NS, manifest)
    k8s.wait_for(lambda: k8s.condition("deployments", "board", "Progressing") == "False", 5)

    deployment = apps.read_namespaced_deployment_status("board", NS)
    assert ("Available", "False", "MinimumReplicasUnavailable") in conditions(deployment)
    assert ("Progressing", "False", "ProgressDeadlineExceeded") in conditions(deployment)


# -- Kubeflow training jobs ------------------------------------------------------------------


def pytorchjob(name: str, workers: int = 1) -> dict[str, Any]:
    def replica(replicas: int) -> dict[str, Any]:
        container = {"name": "pytorch", "image": "pytorch/pytorch:2.3.0", "command": ["python"]}
        return {
            "replicas": replicas,
            "restartPolicy": "Never",
            "template": {"spec": {"containers": [container]}},
        }

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name},
        "spec": {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(workers)}},
    }


def test_a_pytorchjob_goes_created_running_succeeded(k8s, api, core):
    custom = client.CustomObjectsApi(api)
    group = ("kubeflow.org", "v1", NS, "pytorchjobs")
    k8s.script("ddp", PodScript(duration=0.5, logs=["rank ready"]))
    k8s.script("training.kubeflow.org/replica-type=worker", PodScript(duration=0.3))

    custom.create_namespaced_custom_object(*group, pytorchjob("ddp", workers=2))
    seen: list[list[str]] = []
    stream = watch.Watch()
    for event in stream.stream(custom.list_namespaced_custom_object, *group, timeout_seconds=5):
        obj = event["object"]
        assert isinstance(obj, dict)
        found = (obj.get("status") or {}).get("conditions") or []
        seen.append([c["type"] for c in found if c["status"] == "True"])
        if "Succeeded" in seen[-1]:
            stream.stop()

    job = custom.get_namespaced_custom_object(*group[:3], "pytorchjobs", "ddp")
    assert [(c["type"], c["status"]) for c in job["status"]["conditions"]] == [
        ("Created", "True"),
        ("Running", "False"),
        ("Succeeded", "True"),
    ]
    assert ["Created", "Running"] in seen
    assert job["status"]["replicaStatuses"]["Master"] == {"succeeded": 1}
    pods = core.list_namespaced_pod(NS, label_selector="training.kubeflow.org/job-name=ddp").items
    assert sorted(p.metadata.name for p in pods) == ["ddp-master-0", "ddp-worker-0", "ddp-worker-1"]
    worker = next(p for p in pods if p.metadata.name == "ddp-worker-1")
    env = {e.name: e.value for e in worker.spec.containers[0].env}
    assert (env["RANK"], env["WORLD_SIZE"], env["MASTER_ADDR"]) == ("2", "3", "ddp-master-0")


@pytest.mark.parametrize(
    ("plural", "kind", "key", "container", "env"),
    [
        ("tfjobs", "TFJob", "tfReplicaSpecs", "tensorflow", "TF_CONFIG"),
        ("mpijobs", "MPIJob", "mpiReplicaSpecs", "mpi", None),
    ],
)
def test_tfjobs_and_mpijobs_succeed_with_their_leader(
    k8s, api, core, plural, kind, key, container, env
):
    custom = client.CustomObjectsApi(api)
    k8s.script("training.kubeflow.org/replica-type=worker", PodScript(duration=0.2))
    k8s.script("training.kubeflow.org/job-role=master", PodScript(duration=0.5))
    leader = "Chief" if kind == "TFJob" else "Launcher"
    template = {"spec": {"containers": [{"name": container, "image": "trainer:1"}]}}
    manifest = {
        "apiVersion": "kubeflow.org/v1",
        "kind": kind,
        "metadata": {"name": "dist"},
        "spec": {
            key: {
                leader: {"replicas": 1, "template": template},
                "Worker": {"replicas": 2, "template": template},
            }
        },
    }

    custom.create_namespaced_custom_object("kubeflow.org", "v1", NS, plural, manifest)
    k8s.wait_for(lambda: k8s.condition(plural, "dist", "Succeeded") == "True")

    pods = core.list_namespaced_pod(NS, label_selector="training.kubeflow.org/job-name=dist").items
    names = sorted(p.metadata.name for p in pods)
    assert names == [f"dist-{leader.lower()}-0", "dist-worker-0", "dist-worker-1"]
    if env:
        chief = next(p for p in pods if p.metadata.name == "dist-chief-0")
        assert env in {e.name for e in chief.spec.containers[0].env}


def test_a_failing_worker_fails_the_pytorchjob(k8s, api):
    custom = client.CustomObjectsApi(api)
    k8s.script("training.kubeflow.org/replica-type=master", PodScript(duration=5))
    k8s.script("training.kubeflow.org/replica-type=worker", PodScript(exit_code=1))

    custom.create_namespaced_custom_object(
        "kubeflow.org", "v1", NS, "pytorchjobs", pytorchjob("ddp")
    )
    k8s.wait_for(lambda: k8s.condition("pytorchjobs", "ddp", "Failed") == "True")

    job = k8s.get("pytorchjobs", "ddp")
    failed = job["status"]["conditions"][-1]
    assert failed["reason"] == "PyTorchJobFailed"
    assert failed["message"] == "PyTorchJob ddp is failed because 1 Worker replica(s) failed."


def test_a_pytorchjob_without_a_pytorch_container_is_refused(k8s, api):
    custom = client.CustomObjectsApi(api)
    manifest = pytorchjob("ddp")
    manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0][
        "name"
    ] = "main"

    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object("kubeflow.org", "v1", NS, "pytorchjobs", manifest)

    assert raised.value.status == 422
    [cause] = json.loads(raised.value.body)["details"]["causes"]
    assert cause["field"] == "spec.pytorchReplicaSpecs[Worker].template.spec.containers"
