"""On a real kube-apiserver: finished Jobs kept until Axon recorded them, log followers that
outlive an apiserver restart, Kubeflow CRDs applied after watching began, many followers on one
client. The same behaviours as tests/runners/test_kubernetes_{kept,followers}.py on the double.

Runs go to namespace `axon-b`; the kubelet stand-in runs their pods (a pod's labels set its
duration) and writes one log line a second.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as kube

from runners.base import RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.manifests import Workload
from runners.kubernetes.watch import RECHECK_SECONDS
from schemas.status import RunStatus
from tests import waiting
from tests.kube_real import bed
from tests.runners.test_kubernetes_followers import Follower, until, watching
from tests.runners.test_kubernetes_kept import pushed_run, record_to_end, run_row

S = RunStatus
NS = "axon-b"
CRD = "pytorchjobs.kubeflow.org"


@pytest.fixture
def runner(kubeconfig: str) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(kubeconfig=kubeconfig, namespace=NS, watch_timeout=60) as made:
        yield made


def spec(seconds: int, **run: Any) -> RunSpec:
    """A Job whose pod the stand-in runs for `seconds`."""
    environment = {"labels": {"axon-test/run-seconds": str(seconds)}}
    component = {"run": {"kind": "job", "environment": environment, **run}}
    return RunSpec(
        uuid=uuid.uuid4().hex, name="train", project="mnist", command=["python", "train.py"],
        image="python:3.11", component=component,
    )  # fmt: skip


def jobs_and_pods(runner: KubernetesRunner, name: str) -> tuple[bool, int]:
    batch, core = kube.BatchV1Api(runner.api_client), kube.CoreV1Api(runner.api_client)
    jobs = batch.list_namespaced_job(NS, field_selector=f"metadata.name={name}").items
    pods = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
    return bool(jobs), len(pods)


def test_a_job_that_ended_while_no_agent_watched_is_kept_until_recorded(client, db, rt, runner):
    run_id = pushed_run(client, db, rt, runner, ttl=0)
    external_id = run_row(db, run_id)[0].external_id
    name = Workload.parse(external_id).name
    batch = kube.BatchV1Api(runner.api_client)

    def completed() -> float | None:
        job = batch.read_namespaced_job(name, NS)
        done = job.status.completion_time
        return done.timestamp() if done is not None else None

    ended = waiting.wait_for(completed, 30, 0.2, message=f"{name} to complete")
    # A ttlSecondsAfterFinished of 0 deletes a Job about 2 s after its completionTime here.
    waiting.wait_for(lambda: time.time() > ended + 5, 10, 0.2)
    assert jobs_and_pods(runner, name) == (True, 1)

    record_to_end(rt, runner, external_id, timeout=20)

    run, history = run_row(db, run_id)
    assert run.status == S.SUCCEEDED
    assert "axon-standin" in (run.logs or "") and "exit code 0" in (run.logs or "")
    times = [c.at for c in history]
    assert times == sorted(times), [(c.status, c.at) for c in history]
    waiting.wait_for(
        lambda: jobs_and_pods(runner, name) == (False, 0), 30, 0.2, message="Job and pod gone"
    )


def test_a_follower_outlives_an_apiserver_restart_without_repeating_a_line(runner):
    external_id = runner.submit(spec(25))
    follower = Follower(runner, external_id)
    waiting.wait_for(lambda: len(follower.lines) >= 3, 30, 0.2, message="the first lines")

    bed.RESTARTING.touch()
    try:
        subprocess.run([str(bed.TOOLS / "restart-apiserver.sh")], check=True, timeout=120)
    finally:
        bed.RESTARTING.unlink(missing_ok=True)
    waiting.wait_for(lambda: bed.server_version() is not None, 60, 0.5)

    lines = follower.wait_for_end(60)
    assert lines == runner.logs(external_id).splitlines()
    assert len(set(lines)) == len(lines)
    assert lines[-1].endswith("exit code 0")
    runner.recorded(external_id)


@pytest.fixture
def crd_later(runner: KubernetesRunner) -> Iterator[kube.ApiextensionsV1Api]:
    """The PyTorchJob CRD, applied by the test; deleted again after it."""
    extensions = kube.ApiextensionsV1Api(runner.api_client)
    yield extensions
    try:
        extensions.delete_custom_resource_definition(CRD)
    except kube.ApiException as exc:
        assert exc.status == 404


def apply_pytorchjob_crd(extensions: kube.ApiextensionsV1Api) -> None:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    names = {"plural": "pytorchjobs", "singular": "pytorchjob", "kind": "PyTorchJob"}
    extensions.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": CRD},
            "spec": {
                "group": "kubeflow.org",
                "scope": "Namespaced",
                "names": names,
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": schema},
                        "subresources": {"status": {}},
                    }
                ],
            },
        }
    )

    def established() -> bool:
        found = extensions.read_custom_resource_definition(CRD)
        return any(
            c.type == "Established" and c.status == "True" for c in found.status.conditions or ()
        )

    waiting.wait_for(established, 30, 0.2, message=f"{CRD} established")


def test_a_kubeflow_crd_applied_after_watching_began_is_watched(runner, kubeconfig, crd_later):
    assert bed.server_version() is not None
    seen, stop = watching(runner)
    try:
        # The observer is live (a Job's news reaches it) before the CRD exists.
        until_status(seen, runner.submit(spec(1)), S.STARTING, 30)
        apply_pytorchjob_crd(crd_later)
        replica = {"container": {"image": "acme/dist:1", "command": ["python", "dist.py"]}}
        run = {"kind": "pytorchjob", "master": replica, "worker": replica}
        job = dataclasses.replace(spec(3), component={"run": run})
        # Submitted by another process (the worker): this observer finds the kind by looking.
        with KubernetesRunner(kubeconfig=kubeconfig, namespace=NS) as worker:
            external_id = worker.submit(job)
            started = until_status(seen, external_id, S.STARTING, RECHECK_SECONDS + 20)
            # No training operator acts here: the run stays starting until it is stopped.
            worker.cancel(external_id)
        stopped = until(seen, external_id, 30)
    finally:
        stop.set()

    assert started[0].status == S.STARTING
    assert stopped[-1].status == S.STOPPED


def until_status(seen: Any, external_id: str, status: S, timeout: float) -> list[Any]:
    got: list[Any] = []

    def found() -> bool:
        while not seen.empty():
            observation = seen.get()
            if observation.external_id == external_id:
                got.append(observation)
        return any(o.status == status for o in got)

    waiting.wait_for(found, timeout, 0.2, message=lambda: f"{status} for {external_id}: {got}")
    return got


def test_many_followed_runs_share_the_client_without_overflowing_its_pool(runner, caplog):
    caplog.set_level(logging.WARNING, logger="urllib3")
    ids = [runner.submit(spec(8)) for _ in range(12)]
    followers = [Follower(runner, external_id) for external_id in ids]

    for external_id, follower in zip(ids, followers, strict=True):
        lines = follower.wait_for_end(90)
        assert lines and lines[-1].endswith("exit code 0"), (external_id, lines)
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
    for external_id in ids:
        runner.recorded(external_id)


def test_the_run_token_is_in_a_secret_the_run_owns_and_goes_with_it(client, db, rt, runner):
    run_id = pushed_run(client, db, rt, runner, ttl=0)
    run = run_row(db, run_id)[0]
    name = Workload.parse(run.external_id).name
    batch, core = kube.BatchV1Api(runner.api_client), kube.CoreV1Api(runner.api_client)
    job = batch.read_namespaced_job(name, NS)
    [token] = [e for e in job.spec.template.spec.containers[0].env if e.name == "AXON_RUN_TOKEN"]

    assert token.value is None
    ref = token.value_from.secret_key_ref
    secret = core.read_namespaced_secret(ref.name, NS)
    assert base64.b64decode(secret.data[ref.key]).decode() == rt.run_token(run.uuid)
    assert [(o.kind, o.uid) for o in secret.metadata.owner_references] == [
        ("Job", job.metadata.uid)
    ]

    record_to_end(rt, runner, run.external_id, timeout=30)

    def secret_gone() -> bool:
        try:
            core.read_namespaced_secret(ref.name, NS)
        except kube.ApiException as exc:
            return exc.status == 404
        return False

    waiting.wait_for(secret_gone, 30, 0.2, message=f"Secret {ref.name} collected")
