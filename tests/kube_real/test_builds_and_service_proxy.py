"""Build jobs and services opened through Axon, on a real kube-apiserver, with the production
stack of tests/kube_real/test_end_to_end.py (namespace `axon-b`).

The kubelet stand-in runs every container the same way: a builder's pod ends as its labels say
but writes no termination message, so no digest is pushed here; what the real server decides
is tested: the build's Job runs, a failed build leaves the operation upstream_failed and never
submitted, a build that reports no image starts nothing on an image nobody built. The stand-in
serves no HTTP for pods and the bed runs no endpoints controller, so a service is reached
through the real apiserver's service proxy up to the point where it says there is no pod to
forward to.
"""

from __future__ import annotations

import uuid
from typing import Any

from kubernetes import client

from tests import waiting
from tests.e2e.harness import Axon
from tests.e2e.scenario import NAME, OWNER
from tests.e2e.test_kubernetes import S_DONE, history, job_name, newest_run, push, wait_for
from tests.kube_real.test_end_to_end import NS, axon, batch  # noqa: F401 - fixtures

REGISTRY = "registry.example.com/acme"


def subscribe(axon: Axon, operation: dict[str, Any]) -> tuple[str, str]:  # noqa: F811
    project = f"k{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    doc = {
        "name": "op",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}},
        "report": {},
        "operation": operation,
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def building(builder_labels: dict[str, str]) -> dict[str, Any]:
    """An operation that builds its image first; the builder's pod carries `builder_labels`."""
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "build": {
            "hubRef": "kaniko",
            "params": {"destination": {"value": f"{REGISTRY}/app:{{{{ event.sha }}}}"}},
            "runPatch": {"environment": {"labels": builder_labels}},
        },
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "run": {
                "kind": "job",
                "container": {"image": "python:3.11", "command": ["python", "train.py"]},
                "environment": {"labels": {"axon-test/run-seconds": "1"}},
            },
        },
    }


def ops_of(axon: Axon, project: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:  # noqa: F811
    """The push's pipeline once it ended, and its ops by name."""
    top = waiting.wait_for(
        lambda: next(
            (
                run
                for run in axon.api("GET", "/api/v1/runs", params={"project": project}).json()
                if run["parent"] is None
            ),
            None,
        ),
        60,
        0.1,
        message=f"a run of {project}",
    )
    pipeline = wait_for(axon, top["uuid"], S_DONE, timeout=180)
    runs = axon.api("GET", "/api/v1/runs", params={"parent": pipeline["uuid"]}).json()
    ops = {r["op_name"]: axon.api("GET", f"/api/v1/runs/{r['uuid']}").json() for r in runs}
    return pipeline, ops


def kaniko_of(batch: client.BatchV1Api, run: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    job = batch.api_client.sanitize_for_serialization(batch.read_namespaced_job(job_name(run), NS))
    [container] = job["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_a_failed_build_leaves_the_operation_upstream_failed_and_never_submitted(axon, batch):  # noqa: F811
    project, source = subscribe(axon, building({"axon-test/outcome": "fail"}))

    push(axon, source)

    pipeline, ops = ops_of(axon, project)
    assert pipeline["status"] == "failed", axon.logs()
    assert ops["build"]["status"] == "failed"
    assert ops["build"]["external_id"].startswith(f"{NS}/jobs/")
    assert ops["train"]["status"] == "upstream_failed"
    assert history(ops["train"]) == ["created", "upstream_failed"]
    assert ops["train"]["external_id"] is None


def test_a_build_that_reports_no_image_starts_nothing_on_an_unbuilt_image(axon, batch):  # noqa: F811
    project, source = subscribe(axon, building({"axon-test/run-seconds": "1"}))

    push(axon, source)

    pipeline, ops = ops_of(axon, project)
    # The real server ran the builder's Job as Axon wrote it; the stand-in wrote no digest.
    assert ops["build"]["status"] == "succeeded", axon.logs()
    assert ops["build"]["outputs"] in (None, {})
    assert pipeline["status"] != "succeeded"
    assert ops["train"]["status"] != "succeeded"
    assert ops["train"]["external_id"] is None


def test_a_running_service_with_no_pod_to_forward_to_answers_503_with_the_reason(axon):  # noqa: F811
    operation = {
        "version": 1.1,
        "kind": "operation",
        "name": "board",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "board",
            "run": {
                "kind": "service",
                "ports": [6006],
                "container": {"image": "tensorflow/tensorflow:2.15.0", "command": ["tensorboard"]},
                "environment": {"labels": {"axon-test/outcome": "hang"}},
            },
        },
    }
    project, source = subscribe(axon, operation)
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"}, timeout=120)
    try:
        answer = axon.api("GET", f"/runs/{run['uuid']}/service/data/runs")

        assert answer.status_code == 503, answer.text
        assert "no ready pod" in answer.json()["detail"]
    finally:
        assert axon.api("POST", f"/api/v1/runs/{run['uuid']}/stop").status_code == 202
    assert wait_for(axon, run["uuid"], S_DONE, timeout=60)["status"] == "stopped"
