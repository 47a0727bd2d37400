"""The runner contract (tests/contracts/runner.py), which the Kubernetes runner meets on the
double (tests/runners/test_kubernetes_runner.py), met on a real kube-apiserver.

The contract's `python -c` commands become the kubelet stand-in's pod labels: a `sys.exit(N)`
fails with exit code N, a `sleep` runs until deleted, anything else succeeds after a second.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from tests.contracts.runner import MakeSpec, RunnerContract

NS = "axon-b"


def labels_for(command: list[str]) -> dict[str, str]:
    code = command[-1]
    if "sleep" in code:
        return {"axon-test/outcome": "hang"}
    if exit_code := re.search(r"sys\.exit\((\d+)\)", code):
        return {"axon-test/outcome": "fail", "axon-test/exit-code": exit_code.group(1)}
    return {"axon-test/run-seconds": "1"}


@pytest.fixture
def runner(kubeconfig: str) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(kubeconfig=kubeconfig, namespace=NS, watch_timeout=60) as made:
        made.made = []  # type: ignore[attr-defined]
        yield made
        batch = client.BatchV1Api(made.api_client)
        for name in made.made:  # type: ignore[attr-defined]
            try:
                batch.delete_namespaced_job(name, NS, propagation_policy="Background")
            except client.ApiException as exc:
                assert exc.status == 404


@pytest.fixture
def make_spec(runner: KubernetesRunner) -> MakeSpec:
    def make(command: list[str], **fields: Any) -> RunSpec:
        fields.setdefault("uuid", uuid.uuid4().hex)
        fields.setdefault("image", "python:3.11")
        environment = {"labels": labels_for(command)}
        fields.setdefault("component", {"run": {"kind": "job", "environment": environment}})
        runner.made.append(f"axon-{fields['uuid']}")  # type: ignore[attr-defined]
        return RunSpec(name="train", project="mnist", command=command, **fields)

    return make


class TestKubernetesRunnerOnARealServer(RunnerContract):
    pass
