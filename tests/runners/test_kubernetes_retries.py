"""Retries on Kubernetes: `maxRetries` gives exactly that many under either restart policy, the
logs of a container restarted in place keep its previous run, and a pod deleted by someone else
spends a retry (or fails the run) instead of hiding in one long `running`. Against the API-server
double (told 1.25 and 1.37: before 1.26 the Job controller starts a deleted pod again whatever
backoffLimit says), and the tracker fed events in the order a real 1.20 sends them;
tests/kube_real/test_retries.py runs the same on a real 1.20."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from runners.base import Observation, RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.tracking import Tracker
from schemas.status import DONE, RunStatus
from tests.contracts.runner import run_to_end, statuses
from tests.fakes.kubernetes import KubernetesDouble, PodScript

S = RunStatus
FOREVER = PodScript(duration=None, logs=["serving"])


@pytest.fixture
def k8s(request: pytest.FixtureRequest) -> Iterator[KubernetesDouble]:
    """The double, as a server of the version a test asks for (`indirect`), else the newest."""
    version = getattr(request, "param", None)
    with KubernetesDouble(speed=10, watch_timeout=20, bookmark_interval=2, version=version) as made:
        yield made
        assert made.schema_problems() == []


# Before 1.26 the Job controller starts a deleted pod again without counting it; from 1.26 the
# pod counts as failed, and is replaced only while a retry is left.
VERSIONS = pytest.mark.parametrize("k8s", ["1.25.0", "1.37.0"], indirect=True)


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


def spec(k8s: KubernetesDouble, policy: str, max_retries: int, *scripts: PodScript) -> RunSpec:
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", *scripts)
    run = {"kind": "job", "container": {"image": "python:3.11"}}
    run["environment"] = {"restartPolicy": policy}
    return RunSpec(
        uuid=run_uuid, name="train", project="mnist", command=["python", "train.py"],
        image="python:3.11", component={"run": run, "termination": {"maxRetries": max_retries}},
    )  # fmt: skip


def main_runs(k8s: KubernetesDouble, job: str) -> int:
    """How many times the Job's main container ran, pods and restarts in place, from every
    state the server stored (the Job controller deletes a failed Job's running pods)."""
    restarts: dict[str, int] = {}
    for change in k8s.cluster.store.history():
        pod = change.obj
        if pod.get("kind") != "Pod" or pod["metadata"]["labels"].get("job-name") != job:
            continue
        for container in (pod.get("status") or {}).get("containerStatuses") or ():
            state = container.get("state") or {}
            if "running" in state or "terminated" in state:
                name = pod["metadata"]["name"]
                restarts[name] = max(restarts.get(name, 0), container.get("restartCount", 0))
    return sum(count + 1 for count in restarts.values())


def fails(line: str) -> PodScript:
    return PodScript(exit_code=1, duration=0.3, logs=[line])


@pytest.mark.parametrize("max_retries", [1, 2])
def test_on_failure_a_run_gets_exactly_its_max_retries(runner, k8s, max_retries):
    scripts = [fails(f"try {n}") for n in range(max_retries + 1)]
    made = spec(k8s, "OnFailure", max_retries, *scripts, PodScript(logs=["one too many"]))
    external_id = runner.submit(made)

    last = run_to_end(runner, external_id, timeout=15)[-1]

    assert last.status == S.FAILED
    assert main_runs(k8s, external_id.rsplit("/", 1)[-1]) == max_retries + 1


def test_on_failure_the_logs_keep_the_run_before_the_last_restart(runner, k8s):
    made = spec(k8s, "OnFailure", 2, fails("try 0"), fails("try 1"), PodScript(logs=["try 2"]))
    external_id = runner.submit(made)

    last = run_to_end(runner, external_id, timeout=15)[-1]
    logs = runner.logs(external_id)

    assert last.status == S.SUCCEEDED
    # The kubelet keeps one previous run of a container: the first is gone by the third.
    assert logs == "try 1\ntry 2\n"


def test_never_a_run_gets_exactly_its_max_retries(runner, k8s):
    made = spec(k8s, "Never", 1, fails("try 0"), fails("try 1"), PodScript(logs=["too many"]))
    external_id = runner.submit(made)

    last = run_to_end(runner, external_id, timeout=15)[-1]

    assert last.status == S.FAILED
    assert main_runs(k8s, external_id.rsplit("/", 1)[-1]) == 2


# -- a pod deleted by someone else -----------------------------------------------------------


@pytest.fixture
def watching(runner: KubernetesRunner, k8s: KubernetesDouble) -> Iterator[queue.Queue[Observation]]:
    seen: queue.Queue[Observation] = queue.Queue()
    stop = threading.Event()

    def consume() -> None:
        for observation in runner.observe(stop):
            seen.put(observation)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    k8s.wait_for(lambda: all(k8s.calls[("watch", p)] for p in ("jobs", "pods")))
    yield seen
    stop.set()
    thread.join(timeout=5)


def until(
    seen: queue.Queue[Observation], external_id: str, wanted: set[RunStatus], timeout: float = 15
) -> list[Observation]:
    found: list[Observation] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            observation = seen.get(timeout=0.05)
        except queue.Empty:
            continue
        if observation.external_id == external_id:
            found.append(observation)
            if observation.status in wanted:
                return found
    pytest.fail(f"{external_id} reached none of {wanted} in {timeout}s; saw {found}")


def delete_running_pod(k8s: KubernetesDouble, job: str) -> str:
    [pod] = k8s.wait_for(lambda: [p for p in k8s.pods_of(job) if p["status"]["phase"] == "Running"])
    with client.ApiClient(k8s.configuration()) as api:
        client.CoreV1Api(api).delete_namespaced_pod(pod["metadata"]["name"], "default")
    return str(pod["metadata"]["name"])


@VERSIONS
def test_a_pod_deleted_by_someone_else_fails_a_run_without_retries(runner, k8s, watching):
    external_id = runner.submit(spec(k8s, "Never", 0, FOREVER))
    job = external_id.rsplit("/", 1)[-1]
    until(watching, external_id, {S.RUNNING})

    pod = delete_running_pod(k8s, job)
    seen = until(watching, external_id, DONE)

    assert (seen[-1].status, seen[-1].reason) == (S.FAILED, "PodDeleted"), seen
    assert pod in seen[-1].message and "deleted before it ended" in seen[-1].message


@VERSIONS
def test_a_pod_deleted_by_someone_else_is_a_retry_when_one_is_left(runner, k8s, watching):
    external_id = runner.submit(spec(k8s, "Never", 1, FOREVER, PodScript(logs=["again"])))
    job = external_id.rsplit("/", 1)[-1]
    until(watching, external_id, {S.RUNNING})

    pod = delete_running_pod(k8s, job)
    seen = until(watching, external_id, DONE)

    assert statuses(seen) == [S.RETRYING, S.RUNNING, S.SUCCEEDED]
    assert seen[0].reason == "PodDeleted"
    assert seen[0].message == (
        f"pod {pod} was deleted before it ended; the Job runs it again (retry 1 of 1)"
    )


# -- the same, as a server before 1.26 tells it -------------------------------------------------

T0 = "2030-01-01T00:00:00Z"


def job(backoff: int, **status: Any) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never"}}
    return {
        "metadata": meta("axon-r1"),
        "spec": {"backoffLimit": backoff, "template": template},
        "status": status,
    }


def meta(name: str, **extra: Any) -> dict[str, Any]:
    labels = {"axon.dev/managed": "true", "axon.dev/run-uuid": "r1"}
    return {"name": name, "namespace": "default", "labels": labels, **extra}


def pod(name: str, phase: str = "Pending", deleting: bool = False) -> dict[str, Any]:
    main: dict[str, Any] = {"name": "main", "restartCount": 0, "state": {"waiting": {}}}
    if phase == "Running":
        main["state"] = {"running": {"startedAt": T0}}
    extra = {"deletionTimestamp": T0} if deleting else {}
    return {
        "metadata": meta(f"axon-r1-{name}", **extra),
        "status": {"phase": phase, "containerStatuses": [main]},
    }


def deleted_and_replaced(backoff: int) -> list[Observation]:
    """A Job's running pod deleted by someone, and the pod a 1.20 Job controller starts after
    it (its status.failed stays 0), in the order a 1.20 server told them: the tracker's
    observations."""
    tracker = Tracker(settle=0)
    tracker.go_live()
    events = [
        ("ADDED", "jobs", job(backoff, active=1)),
        ("ADDED", "pods", pod("a")),
        ("MODIFIED", "pods", pod("a", "Running")),
        ("MODIFIED", "pods", pod("a", "Running", deleting=True)),
        # The controller starts the next pod as soon as the deletion begins.
        ("ADDED", "pods", pod("b")),
        ("DELETED", "pods", pod("a", "Running", deleting=True)),
        ("MODIFIED", "pods", pod("b", "Running")),
    ]
    return [o for kind, plural, obj in events for o in tracker.apply(kind, plural, obj)]


def test_before_1_26_a_deleted_pod_started_again_fails_a_run_without_retries():
    seen = deleted_and_replaced(backoff=0)

    assert [(o.status, o.reason) for o in seen] == [
        (S.STARTING, "Created"),
        (S.RUNNING, "Running"),
        (S.FAILED, "PodDeleted"),
    ]
    assert seen[-1].message == (
        "pod axon-r1-a was deleted before it ended, and no retry is left (maxRetries 0)"
    )


def test_before_1_26_a_deleted_pod_started_again_is_a_retry_when_one_is_left():
    seen = deleted_and_replaced(backoff=1)

    assert [(o.status, o.reason) for o in seen] == [
        (S.STARTING, "Created"),
        (S.RUNNING, "Running"),
        (S.RETRYING, "PodDeleted"),
        (S.RUNNING, "Running"),
    ]
