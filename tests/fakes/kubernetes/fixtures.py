"""pytest fixtures and manifests for tests that reach a KubernetesDouble with the official client.

A test module imports the fixtures it uses (`from tests.fakes.kubernetes.fixtures import k8s`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes.double import KubernetesDouble

NS = "default"


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    """A double at ten times real speed; every state it stored must pass the strict schema."""
    with KubernetesDouble(speed=10, watch_timeout=20, bookmark_interval=2) as double:
        yield double
        assert double.schema_problems() == []


@pytest.fixture
def api(k8s: KubernetesDouble) -> Iterator[client.ApiClient]:
    with client.ApiClient(k8s.configuration()) as api_client:
        yield api_client


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def job_manifest(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    restart_policy: str = "Never",
    **spec: Any,
) -> dict[str, Any]:
    """A batch/v1 Job running one `main` container; `spec` adds Job spec fields."""
    container = {"name": "main", "image": "python:3.11", "command": ["python", "train.py"]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": "axon"} if labels is None else labels},
        "spec": {
            "template": {"spec": {"restartPolicy": restart_policy, "containers": [container]}},
            **spec,
        },
    }


def status_of(error: ApiException) -> dict[str, Any]:
    """The Status body of an API error."""
    return json.loads(error.body)


def pods_of(core: client.CoreV1Api, job: str) -> list[client.V1Pod]:
    """A Job's pods, listed by the label the Job controller puts on them."""
    selector = f"batch.kubernetes.io/job-name={job}"
    return core.list_namespaced_pod(NS, label_selector=selector).items


def wait_for_phase(k8s: KubernetesDouble, owner: str, phase: str) -> str:
    """The name of the first pod of `owner` seen in `phase` (waiting for one)."""

    def found() -> str | None:
        pods = [p for p in k8s.pods_of(owner) if p["status"].get("phase") == phase]
        return pods[0]["metadata"]["name"] if pods else None

    return k8s.wait_for(found)


def conditions(obj: Any) -> list[tuple[str, str, str | None]]:
    """(type, status, reason) of a typed object's status conditions."""
    return [(c.type, c.status, c.reason) for c in obj.status.conditions or []]
