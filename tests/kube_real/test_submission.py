"""On a real kube-apiserver (1.20): submission and stop as a real server answers them. A run's
sidecars refused where native sidecars do not exist, a service whose Service is refused leaves
no Deployment behind, refusals in the server's words, and a service stopped although the
server answers a Service's DELETE with a Status. The same behaviours as
tests/runners/test_kubernetes_submission.py on the double.

Runs go to namespace `axon-a`; the kubelet stand-in runs their pods.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as kube

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.api import Refused, minor_version
from runners.kubernetes.manifests import ManifestError, Workload, object_name
from schemas.status import RunStatus
from tests import waiting

S = RunStatus
NS = "axon-a"


@pytest.fixture
def runner(kubeconfig: str) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(kubeconfig=kubeconfig, namespace=NS, watch_timeout=60) as made:
        yield made
        clean_up(made)


def clean_up(runner: KubernetesRunner) -> None:
    """Delete what this test's runs left (their uuids are fresh, so only theirs)."""
    options = kube.V1DeleteOptions(propagation_policy="Background")
    apps, batch = kube.AppsV1Api(runner.api_client), kube.BatchV1Api(runner.api_client)
    selector = "axon.dev/managed=true,axon.dev/project=submission"
    for item in apps.list_namespaced_deployment(NS, label_selector=selector).items:
        apps.delete_namespaced_deployment(item.metadata.name, NS, body=options)
    for item in batch.list_namespaced_job(NS, label_selector=selector).items:
        batch.delete_namespaced_job(item.metadata.name, NS, body=options)


def spec(run: dict[str, Any]) -> RunSpec:
    return RunSpec(
        uuid=uuid.uuid4().hex, name="board", project="submission", command=["serve"],
        image="python:3.11", component={"run": run},
    )  # fmt: skip


def exists(runner: KubernetesRunner, plural: str, name: str) -> bool:
    return runner.cluster.read(plural, NS, name) is not None


def test_the_runner_reads_the_servers_version(runner, kube_version):
    assert runner.server_version() == kube_version
    assert minor_version(kube_version) is not None


def test_a_job_with_sidecars_is_refused_before_1_29_and_nothing_is_created(runner, kube_version):
    version = minor_version(kube_version)
    if version is None or version >= (1, 29):
        pytest.skip(f"the bed runs {kube_version}, which has native sidecars")
    run = {
        "kind": "job",
        "container": {"image": "python:3.11"},
        "sidecars": [{"name": "metrics", "image": "acme/metrics:1"}],
    }
    made = spec(run)

    with pytest.raises(ManifestError) as refused:
        runner.submit(made)

    assert f"this cluster runs Kubernetes {version[0]}.{version[1]}" in str(refused.value)
    assert not exists(runner, "jobs", object_name(made.uuid))


def test_a_services_sidecars_run_as_plain_containers_on_any_version(runner):
    run = {
        "kind": "service",
        "ports": [8080],
        "container": {"image": "python:3.11"},
        "sidecars": [{"name": "metrics", "image": "acme/metrics:1"}],
    }
    made = spec(run)
    runner.submit(made)
    core = kube.CoreV1Api(runner.api_client)

    def running() -> list[Any]:
        found = core.list_namespaced_pod(NS, label_selector=f"axon.dev/run-uuid={made.uuid}")
        return [p for p in found.items if p.status.phase == "Running"]

    [pod] = waiting.wait_for(running, 30, 0.2, message=f"the pod of {made.uuid} to run")
    assert [c.name for c in pod.spec.containers] == ["main", "metrics"]
    assert [c.ready for c in pod.status.container_statuses] == [True, True]


def test_a_service_whose_service_is_refused_fails_whole_with_the_servers_words(runner):
    made = spec({"kind": "service", "ports": [6006, 6006], "container": {"image": "tb:1"}})
    name = object_name(made.uuid)

    with pytest.raises(Refused) as refused:
        runner.submit(made)

    text = str(refused.value)
    assert text.startswith(f'kubernetes refused the Service {name}: Service "{name}" is invalid: ')
    assert 'spec.ports[1].name: Duplicate value: "port-6006"' in text
    assert text.endswith("(422 Invalid)")
    assert "HTTP response headers" not in text and "\n" not in text
    waiting.wait_for(
        lambda: not exists(runner, "deployments", name), 30, 0.2, message=f"{name} to go"
    )
    assert not exists(runner, "services", name)


def test_stopping_a_running_service_deletes_its_deployment_and_service(runner):
    made = spec({"kind": "service", "ports": [8080], "container": {"image": "python:3.11"}})
    external_id = runner.submit(made)
    name = Workload.parse(external_id).name
    assert exists(runner, "services", name)

    runner.cancel(external_id)  # the Service's DELETE answers a Status, not a Service

    waiting.wait_for(
        lambda: not exists(runner, "deployments", name) and not exists(runner, "services", name),
        30,
        0.2,
        message=f"{name} and its Service to go",
    )
