"""On a real kube-apiserver (1.20): retries as its Job controller counts them. `maxRetries` with
`restartPolicy: OnFailure` gives exactly that many, a restarted container's logs keep its
previous run, and a pod deleted by someone else (which a server before 1.26 starts again
whatever backoffLimit says) is a retry, or the run's failure, never one long `running`. The same
behaviours as tests/runners/test_kubernetes_retries.py on the double.

Runs go to namespace `axon-a`; the kubelet stand-in runs their pods: a pod's labels choose its
outcome and duration, and under OnFailure a failing container restarts in place at once.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes import watch

from runners.base import Observation, RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.manifests import Workload
from schemas.status import DONE, RunStatus
from tests import waiting
from tests.contracts.runner import statuses

S = RunStatus
NS = "axon-a"


@pytest.fixture
def runner(kubeconfig: str) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(kubeconfig=kubeconfig, namespace=NS, watch_timeout=60) as made:
        yield made
        options = kube.V1DeleteOptions(propagation_policy="Background")
        batch = kube.BatchV1Api(made.api_client)
        selector = "axon.dev/managed=true,axon.dev/project=retries"
        for item in batch.list_namespaced_job(NS, label_selector=selector).items:
            batch.delete_namespaced_job(item.metadata.name, NS, body=options)


@pytest.fixture
def seen(runner: KubernetesRunner) -> Iterator[queue.Queue[Observation]]:
    """An observer in a thread (a run submitted before its first list is in that list)."""
    out: queue.Queue[Observation] = queue.Queue()
    stop = threading.Event()

    def consume() -> None:
        for observation in runner.observe(stop):
            out.put(observation)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    yield out
    stop.set()
    thread.join(timeout=10)


def until(out: queue.Queue[Observation], external_id: str, wanted: set[RunStatus]) -> list[Any]:
    got: list[Observation] = []

    def reached() -> bool:
        while not out.empty():
            observation = out.get()
            if observation.external_id == external_id:
                got.append(observation)
        return any(o.status in wanted for o in got)

    waiting.wait_for(reached, 60, 0.05, message=lambda: f"{external_id}: {wanted}; saw {got}")
    return got


def spec(policy: str, max_retries: int, **labels: str) -> RunSpec:
    environment = {"restartPolicy": policy, "labels": labels}
    run = {"kind": "job", "container": {"image": "python:3.11"}, "environment": environment}
    component = {"run": run, "termination": {"maxRetries": max_retries}}
    return RunSpec(
        uuid=uuid.uuid4().hex, name="train", project="retries", command=["python", "train.py"],
        image="python:3.11", component=component,
    )  # fmt: skip


class Restarts:
    """The highest restartCount the run's pods reach: a watch of them in a thread."""

    def __init__(self, runner: KubernetesRunner, run_uuid: str) -> None:
        self.most = 0
        self.watch = watch.Watch()
        core = kube.CoreV1Api(runner.api_client)
        selector = f"axon.dev/run-uuid={run_uuid}"

        def follow() -> None:
            stream = self.watch.stream(core.list_namespaced_pod, NS, label_selector=selector)
            try:
                for event in stream:
                    for container in event["object"].status.container_statuses or ():
                        self.most = max(self.most, container.restart_count or 0)
            except Exception:  # noqa: BLE001 - stopping closes the stream under it
                if not self.stopped.is_set():
                    raise

        self.stopped = threading.Event()
        threading.Thread(target=follow, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self.watch.stop()


@pytest.mark.parametrize("max_retries", [1, 2])
def test_on_failure_a_run_gets_exactly_its_max_retries(runner, seen, max_retries):
    made = spec("OnFailure", max_retries, **{"axon-test/outcome": "fail"})
    restarts = Restarts(runner, made.uuid)
    try:
        external_id = runner.submit(made)
        last = until(seen, external_id, DONE)[-1]
    finally:
        restarts.stop()

    assert (last.status, last.exit_code) == (S.FAILED, 1)
    assert "BackoffLimitExceeded" in last.message
    # Each restart follows a failed run: the first run and max_retries retries all failed.
    assert restarts.most == max_retries + 1


def test_on_failure_the_logs_keep_the_run_before_the_last_restart(runner, seen):
    labels = {"axon-test/outcome": "fail", "axon-test/run-seconds": "2"}
    external_id = runner.submit(spec("OnFailure", 5, **labels))
    name = Workload.parse(external_id).name
    core = kube.CoreV1Api(runner.api_client)

    def restarted() -> bool:
        pods = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
        return any(c.restart_count for p in pods for c in p.status.container_statuses or ())

    waiting.wait_for(restarted, 30, 0.2, message=f"{name} to restart in place")
    # The stand-in writes a line a second: the current run's first comes after the restart.
    logs = waiting.wait_for(
        lambda: (text := runner.logs(external_id)).count(" step 1\n") >= 2 and text,
        10,
        0.2,
        message="the restarted run's first line",
    )

    # The previous run, to its exit, then the current one.
    assert logs.index("exit code 1") < logs.rindex(" step 1\n")


def delete_the_running_pod(runner: KubernetesRunner, name: str) -> str:
    core = kube.CoreV1Api(runner.api_client)

    def running() -> list[Any]:
        pods = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
        return [p for p in pods if p.status.phase == "Running"]

    [pod] = waiting.wait_for(running, 30, 0.1, message=f"a running pod of {name}")
    core.delete_namespaced_pod(pod.metadata.name, NS)
    return str(pod.metadata.name)


def test_a_pod_deleted_by_someone_else_fails_a_run_without_retries(runner, seen):
    external_id = runner.submit(spec("Never", 0, **{"axon-test/outcome": "hang"}))
    name = Workload.parse(external_id).name
    got = until(seen, external_id, {S.RUNNING})

    pod = delete_the_running_pod(runner, name)
    got += until(seen, external_id, DONE)

    assert statuses(got) == [S.STARTING, S.RUNNING, S.FAILED]
    assert (got[-1].reason, got[-1].message) == (
        "PodDeleted",
        f"pod {pod} was deleted before it ended, and no retry is left (maxRetries 0)",
    )
    # The Job goes too, so the pod the 1.20 Job controller started again does not run on.
    waiting.wait_for(
        lambda: runner.cluster.read("jobs", NS, name) is None, 30, 0.2, message=f"{name} to go"
    )


def test_a_pod_deleted_by_someone_else_is_a_retry_when_one_is_left(runner, seen):
    external_id = runner.submit(spec("Never", 1, **{"axon-test/run-seconds": "4"}))
    name = Workload.parse(external_id).name
    got = until(seen, external_id, {S.RUNNING})

    pod = delete_the_running_pod(runner, name)
    got += until(seen, external_id, DONE)

    assert statuses(got) == [S.STARTING, S.RUNNING, S.RETRYING, S.RUNNING, S.SUCCEEDED]
    retry = got[2]
    assert (retry.reason, retry.message) == (
        "PodDeleted",
        f"pod {pod} was deleted before it ended; the Job runs it again (retry 1 of 1)",
    )
