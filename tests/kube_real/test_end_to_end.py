"""Axon on a real kube-apiserver, end to end, as tests/e2e/test_kubernetes.py runs it on the
double: gunicorn, `axon worker` and `axon agent` on PostgreSQL and RabbitMQ, runs in namespace
`axon-b`, their pods run by the kubelet stand-in (its pod labels choose how they end).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config

from tests import waiting
from tests.e2e.conftest import _production_env
from tests.e2e.harness import Axon
from tests.e2e.scenario import NAME, OWNER
from tests.e2e.test_kubernetes import (
    S_DONE,
    WHOLE_LIFE,
    history,
    job_name,
    newest_run,
    push,
    wait_for,
)
from tests.kube_real import bed

NS = "axon-b"


@pytest.fixture(scope="module")
def axon(
    kubeconfig: str, tmp_path_factory: pytest.TempPathFactory, postgres: str, rabbitmq: str
) -> Iterator[Axon]:
    cleanup: list[Callable[[], None]] = []
    env = {
        **_production_env(cleanup),
        "AXON_RUNNER": "kubernetes",
        "AXON_KUBERNETES_KUBECONFIG": kubeconfig,
        "AXON_KUBERNETES_NAMESPACE": NS,
        "AXON_KUBERNETES_QUEUES": json.dumps({"default": {"namespace": NS}}),
        "AXON_KUBERNETES_KUBEFLOW": "false",
    }
    server = Axon("production", tmp_path_factory.mktemp("axon-kube-real"), env)
    try:
        yield server.start()
    finally:
        server.stop()
        for step in reversed(cleanup):
            step()


@pytest.fixture
def batch(kubeconfig: str) -> Iterator[client.BatchV1Api]:
    with config.new_client_from_config(config_file=kubeconfig) as api:
        yield client.BatchV1Api(api)


def subscribe(axon: Axon, pod_labels: dict[str, str], **termination: Any) -> tuple[str, str]:
    """A project whose pushes run a Job whose pod carries `pod_labels` (the stand-in's cues)."""
    project = f"k{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    run = {
        "kind": "job",
        "container": {"image": "python:3.11", "command": ["python", "train.py"]},
        "environment": {"labels": pod_labels},
    }
    component = {"version": 1.1, "kind": "component", "name": "trainer", "run": run}
    if termination:
        component["termination"] = termination
    doc = {
        "name": "train",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}},
        "report": {},
        "operation": {"version": 1.1, "kind": "operation", "name": "train", "component": component},
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def gone(batch: client.BatchV1Api, name: str) -> bool:
    return not batch.list_namespaced_job(NS, field_selector=f"metadata.name={name}").items


def test_a_push_runs_a_job_that_succeeds_with_its_logs_and_is_then_deleted(axon, batch):
    project, source = subscribe(axon, {"axon-test/run-seconds": "3"})

    push(axon, source)

    run = wait_for(axon, newest_run(axon, project)["uuid"], S_DONE, timeout=120)
    assert run["status"] == "succeeded", axon.logs()
    assert history(run) == [*WHOLE_LIFE, "succeeded"]
    times = [c["at"] for c in run["conditions"]]
    assert times == sorted(times)
    logs = axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs").text
    assert "step 1" in logs and logs.endswith("exit code 0\n")
    waiting.wait_for(lambda: gone(batch, job_name(run)), 30, 0.2, message="the Job deleted")


def test_a_job_that_ends_while_the_agent_is_down_is_recorded_with_its_logs(axon, batch):
    project, source = subscribe(axon, {"axon-test/run-seconds": "6"}, ttl=0)
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"}, timeout=120)
    name = job_name(run)

    axon.kill_process("agent")

    def completed() -> bool:
        job = batch.read_namespaced_job(name, NS)
        return job.status.completion_time is not None

    waiting.wait_for(completed, 60, 0.2, message=f"{name} to complete")
    # ttl 0: a TTL given to the server would have deleted the Job and its logs by now.
    waiting.wait_for(lambda: not gone(batch, name), 1, message="the Job kept")
    axon.start_process("agent")

    ended = wait_for(axon, run["uuid"], S_DONE, timeout=120)
    assert ended["status"] == "succeeded"
    assert history(ended) == [*WHOLE_LIFE, "succeeded"]
    logs = axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs").text
    assert logs.endswith("exit code 0\n") and logs.count("step 1\n") == 1
    waiting.wait_for(lambda: gone(batch, name), 30, 0.2, message="the Job deleted")


def test_stopping_a_running_job_deletes_it(axon, batch):
    project, source = subscribe(axon, {"axon-test/outcome": "hang"})
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"}, timeout=120)

    assert axon.api("POST", f"/api/v1/runs/{run['uuid']}/stop").status_code == 202

    stopped = wait_for(axon, run["uuid"], S_DONE, timeout=60)
    assert stopped["status"] == "stopped"
    assert history(stopped) == [*WHOLE_LIFE, "stopping", "stopped"]
    waiting.wait_for(lambda: gone(batch, job_name(run)), 30, 0.2, message="the Job deleted")


def test_an_apiserver_restart_mid_run_loses_no_status_and_no_line(axon, batch):
    project, source = subscribe(axon, {"axon-test/run-seconds": "20"})
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"}, timeout=120)

    bed.RESTARTING.touch()
    try:
        subprocess.run([str(bed.TOOLS / "restart-apiserver.sh")], check=True, timeout=120)
    finally:
        bed.RESTARTING.unlink(missing_ok=True)

    ended = wait_for(axon, run["uuid"], S_DONE, timeout=120)
    assert ended["status"] == "succeeded"
    assert history(ended) == [*WHOLE_LIFE, "succeeded"]
    lines = axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs").text.splitlines()
    assert len(lines) == len(set(lines)) and lines[-1].endswith("exit code 0")


def test_a_job_deleted_while_the_agent_was_down_fails_as_missing(axon, batch):
    project, source = subscribe(axon, {"axon-test/outcome": "hang"})
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"}, timeout=120)
    axon.kill_process("agent")

    batch.delete_namespaced_job(job_name(run), NS, propagation_policy="Background")
    waiting.wait_for(lambda: gone(batch, job_name(run)), 30, 0.2, message="the Job deleted")
    axon.start_process("agent")

    ended = wait_for(axon, run["uuid"], S_DONE, timeout=120)
    assert (ended["status"], ended["conditions"][-1]["reason"]) == ("failed", "Missing")


def test_an_unschedulable_job_says_so_and_stops(axon, batch):
    project, source = subscribe(axon, {"axon-test/outcome": "unschedulable"})
    push(axon, source)

    run = wait_for(axon, newest_run(axon, project)["uuid"], {"unschedulable"}, timeout=120)
    assert run["conditions"][-1]["reason"] == "Unschedulable"

    assert axon.api("POST", f"/api/v1/runs/{run['uuid']}/stop").status_code == 202
    assert wait_for(axon, run["uuid"], S_DONE, timeout=60)["status"] == "stopped"
