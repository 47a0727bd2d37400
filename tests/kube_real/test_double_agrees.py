"""The double's 1.20 behaviour (tests/fakes/test_kubernetes_versions.py) holds on a real 1.20:
the same requests, the same answers, in namespace `axon-b` (the stand-in runs the pods).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client

from tests import waiting
from tests.fakes.kubernetes.fixtures import job_manifest

NS = "axon-b"
PREFIXED = ("batch.kubernetes.io/job-name", "batch.kubernetes.io/controller-uid")


@pytest.fixture
def batch(kube_api: client.ApiClient, kube_version: str) -> Iterator[client.BatchV1Api]:
    if not kube_version.startswith("v1.20."):
        pytest.skip(f"these are 1.20's answers; the bed runs {kube_version}")
    api = client.BatchV1Api(kube_api)
    made: list[str] = []
    api.made = made  # type: ignore[attr-defined]
    yield api
    for name in made:
        api.delete_namespaced_job(name, NS, propagation_policy="Background")


def create(batch: client.BatchV1Api, manifest: dict[str, Any], **pod_labels: str) -> str:
    name = f"{manifest['metadata']['name']}-{uuid.uuid4().hex[:6]}"
    manifest["metadata"]["name"] = name
    template = manifest["spec"]["template"].setdefault("metadata", {})
    template["labels"] = {"app": "axon", **pod_labels}
    batch.create_namespaced_job(NS, manifest)
    batch.made.append(name)  # type: ignore[attr-defined]
    return name


def finished(batch: client.BatchV1Api, name: str) -> dict[str, Any] | None:
    job = batch.api_client.sanitize_for_serialization(batch.read_namespaced_job(name, NS))
    kinds = {c["type"] for c in job["status"].get("conditions") or [] if c["status"] == "True"}
    return job if kinds & {"Complete", "Failed"} else None


def pods(batch: client.BatchV1Api, name: str) -> list[client.V1Pod]:
    core = client.CoreV1Api(batch.api_client)
    return core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items


def test_fields_newer_than_the_server_are_dropped_silently_even_when_strict(batch):
    manifest = job_manifest("fields", podFailurePolicy={"rules": []}, suspend=False)
    init = {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always"}
    manifest["spec"]["template"]["spec"]["initContainers"] = [init]
    manifest["metadata"]["name"] = f"fields-{uuid.uuid4().hex[:6]}"
    config = batch.api_client.configuration
    answer = requests.post(
        f"{config.host}/apis/batch/v1/namespaces/{NS}/jobs",
        params={"fieldValidation": "Strict"},
        json=manifest,
        headers={"Authorization": config.auth_settings()["BearerToken"]["value"]},
        verify=config.ssl_ca_cert,
        timeout=10,
    )
    batch.made.append(manifest["metadata"]["name"])  # type: ignore[attr-defined]

    assert answer.status_code == 201 and "Warning" not in answer.headers
    spec = answer.json()["spec"]
    assert "podFailurePolicy" not in spec and "suspend" not in spec
    assert "restartPolicy" not in spec["template"]["spec"]["initContainers"][0]


def test_the_job_controller_labels_pods_as_1_20_did(batch):
    name = create(batch, job_manifest("labels"))
    pod = waiting.wait_for(lambda: next(iter(pods(batch, name)), None), 20, 0.2)
    job = batch.read_namespaced_job(name, NS)

    labels = pod.metadata.labels
    assert labels["job-name"] == name and labels["controller-uid"] == job.metadata.uid
    assert not set(PREFIXED) & set(labels)
    assert list(job.spec.selector.match_labels) == ["controller-uid"]
    assert not pod.metadata.finalizers


def test_job_status_and_conditions_are_1_20s(batch):
    ok = create(batch, job_manifest("ok"))
    bad = create(batch, job_manifest("bad", backoffLimit=0), **{"axon-test/outcome": "fail"})

    done = {n: waiting.wait_for(lambda n=n: finished(batch, n), 30, 0.2) for n in (ok, bad)}

    kinds = {n: [c["type"] for c in job["status"]["conditions"]] for n, job in done.items()}
    assert kinds == {ok: ["Complete"], bad: ["Failed"]}
    assert not {"ready", "terminating", "uncountedTerminatedPods"} & set(done[ok]["status"])
    assert done[bad]["status"]["conditions"][-1]["reason"] == "BackoffLimitExceeded"


def test_a_pod_deleted_by_someone_is_replaced_and_not_counted(batch):
    name = create(batch, job_manifest("deleted", backoffLimit=0), **{"axon-test/run-seconds": "8"})

    def running() -> client.V1Pod | None:
        return next((p for p in pods(batch, name) if p.status.phase == "Running"), None)

    first = waiting.wait_for(running, 20, 0.2)
    client.CoreV1Api(batch.api_client).delete_namespaced_pod(first.metadata.name, NS)

    job = waiting.wait_for(lambda: finished(batch, name), 40, 0.2)
    assert [c["type"] for c in job["status"]["conditions"]] == ["Complete"]
    assert "failed" not in job["status"]


def test_a_malformed_quantity_is_refused_as_undecodable(batch):
    manifest = job_manifest(f"quantity-{uuid.uuid4().hex[:6]}")
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "lots"}}

    with pytest.raises(client.ApiException) as raised:
        batch.create_namespaced_job(NS, manifest)

    assert raised.value.status == 400
    status = json.loads(raised.value.body)
    assert status["reason"] == "BadRequest"
    assert "quantities must match the regular expression" in status["message"]


def test_a_watch_of_a_resource_untouched_since_the_start_gets_no_bookmark(batch):
    # 1.20's watch cache sends bookmarks for a resource only once it has seen a change of it
    # since the apiserver started (pods, once a pod had come and gone, got two in a 15 s
    # watch). The double's 1.20 does the same (tests/fakes/test_kubernetes_versions.py).
    core = client.CoreV1Api(batch.api_client)
    version = core.list_namespaced_config_map(NS).metadata.resource_version

    answer = core.list_namespaced_config_map(
        NS,
        watch=True,
        resource_version=version,
        allow_watch_bookmarks=True,
        timeout_seconds=15,
        _preload_content=False,
    )

    assert [line for line in answer.data.decode().splitlines() if line.strip()] == []
