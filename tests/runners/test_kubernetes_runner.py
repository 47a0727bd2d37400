"""The Kubernetes runner against the API-server double, through the official client unchanged:
the runner contract, then statuses, stops, watches that lose their history, restarts, logs."""

from __future__ import annotations

import dataclasses
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from runners.base import Observation, RunnerUnavailable, RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.api import Refused
from runners.kubernetes.manifests import ManifestError
from runners.kubernetes.tracking import Tracker
from runners.registry import runners
from schemas.status import DONE, RunStatus
from tests.contracts.runner import (
    SLEEP,
    SUCCEED,
    MakeSpec,
    RunnerContract,
    observe_until,
    run_to_end,
    statuses,
)
from tests.fakes.kubernetes import KubernetesDouble, PodScript, SimClock, fixtures

S = RunStatus
k8s = fixtures.k8s  # ten times real speed; every stored state must pass the strict schema
FOREVER = PodScript(duration=None)


def script_for(command: list[str]) -> PodScript:
    """What the contract's `python -c` commands do, as the simulated kubelet runs them."""
    code = command[-1]
    if "sleep" in code:
        return FOREVER
    if exit_code := re.search(r"sys\.exit\((\d+)\)", code):
        return PodScript(exit_code=int(exit_code.group(1)), logs=["failing"])
    return PodScript(duration=0.3, logs=re.findall(r"print\('([^']*)'\)", code))


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


@pytest.fixture
def make_spec(k8s: KubernetesDouble) -> MakeSpec:
    """A spec with a new uuid; its pods behave as `script` says (default: as the command)."""

    def make(command: list[str], script: PodScript | None = None, **fields: Any) -> RunSpec:
        fields.setdefault("uuid", uuid.uuid4().hex)
        fields.setdefault("image", "python:3.11")
        k8s.script(f"axon.dev/run-uuid={fields['uuid']}", script or script_for(command))
        return RunSpec(name="train", project="mnist", command=command, **fields)

    return make


class TestKubernetesRunner(RunnerContract):
    pass


@pytest.fixture
def watching(runner: KubernetesRunner, k8s: KubernetesDouble) -> Iterator[queue.Queue[Observation]]:
    """An observer running in a thread, as the agent's, already watching: nothing is missed."""
    seen: queue.Queue[Observation] = queue.Queue()
    stop = threading.Event()

    def consume() -> None:
        for observation in runner.observe(stop):
            seen.put(observation)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    # A watch opens after its list: from then on every change reaches the observer.
    k8s.wait_for(lambda: all(k8s.calls[("watch", p)] for p in ("jobs", "pods", "deployments")))
    yield seen
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive(), "observe() kept going after stop was set"


def until(
    seen: queue.Queue[Observation],
    external_id: str,
    done: Callable[[Observation], bool],
    timeout: float = 5.0,
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
            if done(observation):
                return found
    pytest.fail(f"nothing ended the wait for {external_id} within {timeout}s; saw {found}")


def name_of(external_id: str) -> str:
    return external_id.rsplit("/", 1)[-1]


def test_a_job_runs_its_pod_and_succeeds_with_its_logs(runner, make_spec, k8s):
    spec = make_spec(["python", "train.py"], PodScript(duration=0.3, logs=["epoch 1", "done"]))

    external_id = runner.submit(spec)
    observations = run_to_end(runner, external_id)

    assert statuses(observations) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    assert external_id == f"default/jobs/axon-{spec.uuid}"
    assert runner.logs(external_id) == "epoch 1\ndone\n"
    assert observations[-1].exit_code == 0


def test_an_oom_killed_job_fails_with_the_pods_reason(runner, make_spec):
    external_id = runner.submit(make_spec(["python", "train.py"], PodScript(oom=True)))

    last = run_to_end(runner, external_id)[-1]

    assert (last.status, last.reason, last.exit_code) == (S.FAILED, "OOMKilled", 137)
    assert "OOMKilled (exit code 137) in container main of pod" in last.message
    assert "BackoffLimitExceeded" in last.message


def test_an_unschedulable_pod_reports_the_schedulers_message_and_event(runner, make_spec):
    why = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    external_id = runner.submit(make_spec(["python", "train.py"], PodScript(unschedulable=why)))

    last = observe_until(runner, external_id, {S.UNSCHEDULABLE})[-1]

    assert (last.reason, last.message) == ("Unschedulable", why)
    events = runner.events(external_id)
    assert any(e.reason == "FailedScheduling" and why in e.message for e in events)


def test_an_image_that_cannot_be_pulled_is_a_warning_with_the_message(runner, make_spec):
    error = "manifest for acme/missing:1 not found"
    script = PodScript(image_pull_error=error)
    spec = make_spec(["python", "train.py"], script, image="acme/missing:1")
    external_id = runner.submit(spec)

    last = observe_until(runner, external_id, {S.WARNING})[-1]

    assert last.reason in ("ErrImagePull", "ImagePullBackOff")
    assert last.message.startswith("container main: ") and "acme/missing:1" in last.message
    failed = [e.message for e in runner.events(external_id) if e.reason == "Failed"]
    assert f'Failed to pull image "acme/missing:1": {error}' in failed


def test_a_failed_pod_within_max_retries_is_retrying_then_runs_again(
    runner, make_spec, k8s, watching
):
    spec = make_spec(
        ["python", "train.py"], PodScript(exit_code=1), component={"termination": {"maxRetries": 1}}
    )
    k8s.script(f"axon.dev/run-uuid={spec.uuid}", PodScript(exit_code=1), PodScript(duration=0.3))

    external_id = runner.submit(spec)
    observations = until(watching, external_id, lambda o: o.status in DONE)

    wanted = [S.STARTING, S.RUNNING, S.RETRYING, S.RUNNING, S.SUCCEEDED]
    assert statuses(observations) == wanted
    retrying = observations[2]
    assert (retrying.reason, retrying.exit_code) == ("PodFailed", 1)


def test_a_run_past_its_timeout_fails_with_deadline_exceeded(runner, make_spec):
    spec = make_spec(SLEEP, timeout=1)

    last = run_to_end(runner, runner.submit(spec))[-1]

    assert (last.status, last.reason) == (S.FAILED, "DeadlineExceeded")
    assert "timeout 1s" in last.message


def test_stopping_a_running_job_deletes_it_and_its_pods(runner, make_spec, k8s, watching):
    external_id = runner.submit(make_spec(SLEEP))
    until(watching, external_id, lambda o: o.status == S.RUNNING)

    runner.cancel(external_id)

    last = until(watching, external_id, lambda o: o.status in DONE)[-1]
    assert (last.status, last.reason) == (S.STOPPED, "Stopped")
    k8s.wait_for(lambda: not k8s.pods_of(name_of(external_id)))
    assert k8s.get("jobs", name_of(external_id)) is None


def test_a_job_deleted_by_someone_else_is_stopped_and_missing_from_known_ids(
    runner, make_spec, k8s, watching
):
    external_id = runner.submit(make_spec(SLEEP))
    until(watching, external_id, lambda o: o.status == S.RUNNING)
    assert external_id in runner.known_ids()

    with client.ApiClient(k8s.configuration()) as api:
        client.BatchV1Api(api).delete_namespaced_job(
            name_of(external_id), "default", propagation_policy="Background"
        )

    last = until(watching, external_id, lambda o: o.status in DONE)[-1]
    assert (last.status, last.reason) == (S.STOPPED, "Deleted")
    assert external_id not in runner.known_ids()


def test_submitting_twice_creates_one_job(runner, make_spec, k8s):
    spec = make_spec(SLEEP)

    assert runner.submit(spec) == runner.submit(spec)

    assert k8s.calls[("create", "jobs")] == 2
    assert len(k8s.objects("jobs")) == 1


def test_a_watch_that_gets_410_relists_without_losing_or_repeating_a_status(
    runner, make_spec, k8s, watching
):
    spec = make_spec(["python", "train.py"], PodScript(duration=5.0, logs=["working"]))
    external_id = runner.submit(spec)
    got = until(watching, external_id, lambda o: o.status == S.RUNNING)
    lists = k8s.calls[("list", "jobs")]

    k8s.compact()  # every version handed out so far is now too old
    k8s.kill_connections()  # the watches reconnect from their last version: 410
    got += until(watching, external_id, lambda o: o.status in DONE)

    assert statuses(got) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    assert k8s.calls[("list", "jobs")] > lists
    assert watching.empty()


def test_the_watch_rides_out_a_server_error_and_a_dropped_connection(runner, make_spec, k8s):
    k8s.fail_next("list", "jobs", 503)
    external_id = runner.submit(make_spec(["python", "train.py"], PodScript(duration=5.0)))
    stop = threading.Event()
    seen: list[Observation] = []
    try:
        for observation in runner.observe(stop):
            seen.append(observation)
            if observation.status == S.RUNNING:
                k8s.kill_connections()
            if observation.status in DONE:
                break
    finally:
        stop.set()

    assert statuses(seen) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    assert all(o.external_id == external_id for o in seen)


def test_an_observer_restarted_mid_run_still_reports_the_final_status(runner, make_spec, k8s):
    spec = make_spec(["python", "train.py"], PodScript(duration=5.0))
    external_id = runner.submit(spec)
    first = observe_until(runner, external_id, {S.RUNNING})  # this observer then stops
    assert not k8s.job_finished(name_of(external_id))

    second = run_to_end(runner, external_id)

    assert statuses(first) == [S.STARTING, S.RUNNING]
    assert statuses(second) == [S.STARTING, S.RUNNING, S.SUCCEEDED]


def test_a_run_that_ended_while_nobody_watched_reads_as_its_milestones(runner, make_spec, k8s):
    spec = make_spec(["python", "train.py"], PodScript(exit_code=2))
    external_id = runner.submit(spec)
    k8s.wait_for(lambda: k8s.job_finished(name_of(external_id)))

    observations = run_to_end(runner, external_id)

    assert statuses(observations) == [S.STARTING, S.RUNNING, S.FAILED]
    assert (observations[-1].reason, observations[-1].exit_code) == ("Error", 2)


def test_the_logs_of_a_retried_job_hold_every_attempt_in_order(runner, make_spec, k8s):
    component = {"termination": {"maxRetries": 1}}
    spec = make_spec(["python", "train.py"], component=component)
    # Pods are ordered by creation time (whole seconds): the attempts are seconds apart.
    first = PodScript(exit_code=1, duration=1.5, logs=["first try"])
    second = PodScript(logs=["second try"])
    k8s.script(f"axon.dev/run-uuid={spec.uuid}", first, second)
    external_id = runner.submit(spec)
    run_to_end(runner, external_id)

    logs = runner.logs(external_id)

    pods = sorted(p["metadata"]["name"] for p in k8s.pods_of(name_of(external_id)))
    assert len(pods) == 2
    assert logs.index("first try") < logs.index("second try")
    assert all(f"==> {pod} <==" in logs for pod in pods)


def test_following_logs_yields_lines_as_written_and_ends_with_the_run(runner, make_spec):
    spec = make_spec(["python", "train.py"], PodScript(duration=1.0, logs=["a", "b", "c"]))
    external_id = runner.submit(spec)
    stop = threading.Event()
    timer = threading.Timer(10, stop.set)
    timer.start()

    lines = list(runner.follow_logs(external_id, stop))

    timer.cancel()
    assert not stop.is_set(), "following did not end with the run"
    assert lines == ["a", "b", "c"]


def test_following_logs_stops_when_asked(runner, make_spec):
    external_id = runner.submit(make_spec(SLEEP))
    observe_until(runner, external_id, {S.RUNNING})
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()

    list(runner.follow_logs(external_id, stop))

    assert time.monotonic() - started < 3


def asked_since(k8s: KubernetesDouble, before: int) -> list[tuple[str, str]]:
    """The calls made since `before` requests, the watches' reconnections left out."""
    return [(c.verb, c.resource) for c in k8s.requests[before:] if c.verb != "watch"]


def test_with_an_observer_live_a_finished_runs_logs_cost_only_their_reads(
    runner, make_spec, k8s, watching
):
    spec = make_spec(["python", "train.py"], PodScript(duration=0.3, logs=["epoch 1", "done"]))
    external_id = runner.submit(spec)
    until(watching, external_id, lambda o: o.status in DONE)
    before = len(k8s.requests)

    logs = runner.logs(external_id)

    assert logs == "epoch 1\ndone\n"
    assert asked_since(k8s, before) == [("get", "pods/log")]


def test_with_an_observer_live_letting_go_of_a_recorded_run_costs_only_its_deletion(
    runner, make_spec, k8s, watching
):
    spec = make_spec(["python", "train.py"], PodScript(duration=0.3, logs=["done"]))
    external_id = runner.submit(spec)
    until(watching, external_id, lambda o: o.status in DONE)
    before = len(k8s.requests)

    runner.recorded(external_id)

    # The observer saw the finished Job: it is not asked for again before it is deleted.
    assert asked_since(k8s, before) == [("delete", "jobs")]
    k8s.wait_for(lambda: k8s.get("jobs", name_of(external_id)) is None)


def test_without_an_observer_letting_go_of_a_recorded_run_asks_for_it_first(runner, make_spec, k8s):
    external_id = runner.submit(make_spec(["python", "train.py"], PodScript(duration=0.3)))
    k8s.wait_for(lambda: k8s.job_finished(name_of(external_id)))
    before = len(k8s.requests)

    runner.recorded(external_id)

    assert asked_since(k8s, before) == [("get", "jobs"), ("delete", "jobs")]
    assert k8s.get("jobs", name_of(external_id)) is None


def test_with_an_observer_live_following_logs_opens_only_the_log_stream(
    runner, make_spec, k8s, watching
):
    spec = make_spec(["python", "train.py"], PodScript(duration=1.0, logs=["a", "b", "c"]))
    runner.server_version()  # asked once per runner, by its first submit
    before = len(k8s.requests)
    external_id = runner.submit(spec)
    until(watching, external_id, lambda o: o.status == S.STARTING)
    stop = threading.Event()
    timer = threading.Timer(10, stop.set)
    timer.start()

    lines = list(runner.follow_logs(external_id, stop))

    timer.cancel()
    assert not stop.is_set(), "following did not end with the run"
    assert lines == ["a", "b", "c"]
    # The pods are the observer's; the follower waits for their changes through it too.
    assert asked_since(k8s, before) == [("create", "jobs"), ("get", "pods/log")]


def test_a_service_runs_as_a_deployment_and_stops_with_its_service(runner, make_spec, k8s):
    component = {"run": {"kind": "service", "container": {"image": "acme/app:1"}, "ports": [80]}}
    spec = make_spec(["serve"], FOREVER, component=component)
    external_id = runner.submit(spec)
    name = name_of(external_id)

    assert external_id == f"default/deployments/{name}"
    observe_until(runner, external_id, {S.RUNNING})
    assert k8s.get("services", name) is not None

    runner.cancel(external_id)

    assert run_to_end(runner, external_id)[-1].status == S.STOPPED
    assert k8s.get("services", name) is None and k8s.get("deployments", name) is None


def test_a_pytorchjob_runs_through_the_training_operator(runner, make_spec, k8s):
    replica = {"container": {"image": "acme/dist:1", "command": ["python", "dist.py"]}}
    run = {"kind": "pytorchjob", "master": replica, "worker": {**replica, "replicas": 2}}
    spec = make_spec(["python", "dist.py"], PodScript(duration=0.3, logs=["rank up"]))
    spec = dataclasses.replace(spec, component={"run": run})

    external_id = runner.submit(spec)
    observations = run_to_end(runner, external_id)

    assert external_id.startswith("default/pytorchjobs/")
    assert statuses(observations) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    replicas = k8s.get("pytorchjobs", name_of(external_id))["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 2)
    assert "rank up" in runner.logs(external_id)


def test_a_pytorchjob_whose_master_is_oom_killed_fails_with_the_reason(runner, make_spec, watching):
    # The operator deletes the crash-looping pods as it fails the job (cleanPodPolicy Running):
    # only a watcher that saw them knows why.
    replica = {"container": {"image": "acme/dist:1", "command": ["python", "dist.py"]}}
    run = {"kind": "pytorchjob", "master": replica, "worker": replica}
    spec = make_spec(["python", "dist.py"], PodScript(oom=True), component={"run": run})

    external_id = runner.submit(spec)
    last = until(watching, external_id, lambda o: o.status in DONE)[-1]

    assert (last.status, last.reason, last.exit_code) == (S.FAILED, "OOMKilled", 137)
    assert "in container pytorch of pod" in last.message


def test_a_crash_looping_container_retries_in_place_with_on_failure(
    runner, make_spec, k8s, watching
):
    run = {"kind": "job", "container": {"image": "python:3.11"}}
    run["environment"] = {"restartPolicy": "OnFailure"}
    component = {"run": run, "termination": {"maxRetries": 2}}
    spec = make_spec(["python", "train.py"], PodScript(exit_code=1), component=component)
    k8s.script(f"axon.dev/run-uuid={spec.uuid}", PodScript(exit_code=1), PodScript(duration=0.3))

    external_id = runner.submit(spec)
    observations = until(watching, external_id, lambda o: o.status in DONE)

    wanted = [S.STARTING, S.RUNNING, S.RETRYING, S.RUNNING, S.SUCCEEDED]
    assert statuses(observations) == wanted
    assert observations[2].reason == "CrashLoopBackOff"
    assert len(k8s.pods_of(name_of(external_id))) == 1


def test_a_queue_in_its_own_namespace_is_submitted_and_watched_there(k8s, make_spec):
    queues = {"research": {"namespace": "research"}}
    with KubernetesRunner(configuration=k8s.configuration(), queues=queues) as runner:
        spec = make_spec(SUCCEED, component={"queue": "research"})

        external_id = runner.submit(spec)

        assert external_id.startswith("research/jobs/")
        assert run_to_end(runner, external_id)[-1].status == S.SUCCEEDED
        assert k8s.get("jobs", name_of(external_id), namespace="research") is not None


def test_without_kubeflow_its_kinds_are_neither_watched_nor_submitted(k8s, make_spec):
    replica = {"container": {"image": "acme/dist:1"}}
    spec = make_spec(SUCCEED, component={"run": {"kind": "tfjob", "worker": replica}})
    with KubernetesRunner(configuration=k8s.configuration(), kubeflow=False) as runner:
        with pytest.raises(ManifestError, match="needs the Kubeflow training operator"):
            runner.submit(spec)
        observe_until(runner, runner.submit(make_spec(SUCCEED)), {S.SUCCEEDED})

    assert not any(plural.endswith("jobs") and plural != "jobs" for _, plural in k8s.calls)


def test_a_full_queue_has_no_capacity_until_a_run_ends(k8s, make_spec):
    queues = {"gpu": {"concurrency": 1}}
    with KubernetesRunner(configuration=k8s.configuration(), queues=queues) as runner:
        component = {"queue": "gpu"}
        first = runner.submit(make_spec(SLEEP, component=component))
        assert not runner.has_capacity("gpu")
        assert runner.has_capacity("other-agent/default")

        runner.cancel(first)

        k8s.wait_for(lambda: runner.has_capacity("gpu"))


def test_server_errors_and_throttling_are_transient(runner, make_spec, k8s):
    k8s.fail_next("create", "jobs", 503)
    k8s.fail_next("create", "jobs", 429, retry_after=1)
    spec = make_spec(SUCCEED)

    for _ in range(2):
        with pytest.raises(RunnerUnavailable) as raised:
            runner.submit(spec)
        assert isinstance(raised.value, runner.transient_errors)
    assert runner.submit(spec).endswith(spec.uuid)


def test_a_refused_manifest_is_not_transient(runner, make_spec, k8s):
    k8s.fail_next("create", "jobs", 422, message="Job.batch is invalid")

    with pytest.raises(Refused) as raised:
        runner.submit(make_spec(SUCCEED))

    assert (raised.value.status, raised.value.reason) == (422, "Invalid")
    assert not isinstance(raised.value, runner.transient_errors)


def test_the_registry_finds_the_runner_and_the_local_default_never_imports_kubernetes(k8s):
    found = runners.get("kubernetes", configuration=k8s.configuration())
    found.close()
    probe = "import sys, runners.registry as r; r.runners.get('local', root='/tmp/x');"
    probe += "print('kubernetes' in sys.modules)"

    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)

    assert isinstance(found, KubernetesRunner)
    assert result.stdout.strip() == "False", result.stderr


# -- the status table, row by row, on objects as the API server writes them --------------------

T0 = "2030-01-01T00:00:00Z"


def meta(name: str, uid: str = "r1", **annotations: str) -> dict[str, Any]:
    labels = {"axon.dev/managed": "true", "axon.dev/run-uuid": uid}
    return {"name": name, "namespace": "default", "labels": labels, "annotations": annotations}


def job(*conditions: tuple[str, str, str], backoff: int = 0, **status: Any) -> dict[str, Any]:
    found = [
        {"type": kind, "status": "True", "reason": reason, "message": message}
        for kind, reason, message in conditions
    ]
    spec = {"backoffLimit": backoff, "activeDeadlineSeconds": 60}
    return {"metadata": meta("axon-r1"), "spec": spec, "status": {"conditions": found, **status}}


def pod(name: str, phase: str = "Pending", **main: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "restartCount": 0, **main}
    return {
        "metadata": meta(f"axon-r1-{name}"),
        "status": {"phase": phase, "containerStatuses": [container]},
    }


def running(name: str = "a") -> dict[str, Any]:
    return pod(name, "Running", state={"running": {"startedAt": T0}})


def ended(name: str, code: int, reason: str) -> dict[str, Any]:
    ended = {"exitCode": code, "reason": reason, "startedAt": T0, "finishedAt": T0}
    return pod(name, "Succeeded" if code == 0 else "Failed", state={"terminated": ended})


def waiting(name: str, reason: str, message: str) -> dict[str, Any]:
    return pod(name, state={"waiting": {"reason": reason, "message": message}})


def unschedulable(name: str, message: str) -> dict[str, Any]:
    found = pod(name)
    scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    found["status"] = {"phase": "Pending", "conditions": [{**scheduled, "message": message}]}
    return found


def feed(*events: tuple[str, str, dict[str, Any]]) -> list[Observation]:
    """Observations from a live tracker fed `events` (type, plural, object) in order."""
    tracker = Tracker(settle=0)
    tracker.go_live()
    return [o for kind, plural, obj in events for o in tracker.apply(kind, plural, obj)]


def told(observations: list[Observation]) -> list[tuple[RunStatus, str]]:
    return [(o.status, o.reason) for o in observations]


def test_table_a_created_job_starts_and_a_running_pod_runs():
    seen = feed(
        ("ADDED", "jobs", job()), ("ADDED", "pods", pod("a")), ("MODIFIED", "pods", running())
    )

    assert told(seen) == [(S.STARTING, "Created"), (S.RUNNING, "Running")]
    assert seen[0].external_id == "default/jobs/axon-r1"


def test_table_unschedulable_carries_the_schedulers_message_and_is_a_warning_after_running():
    why = "0/2 nodes are available: 2 Insufficient memory."
    before = feed(("ADDED", "jobs", job()), ("ADDED", "pods", unschedulable("a", why)))
    after = feed(
        ("ADDED", "jobs", job(backoff=1)),
        ("ADDED", "pods", running("a")),
        ("MODIFIED", "pods", ended("a", 1, "Error")),
        ("ADDED", "pods", unschedulable("b", why)),
    )

    assert told(before) == [(S.STARTING, "Created"), (S.UNSCHEDULABLE, "Unschedulable")]
    assert before[-1].message == why
    assert told(after)[-1] == (S.WARNING, "Unschedulable")


@pytest.mark.parametrize(
    "reason", ["ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"]
)
def test_table_a_container_stuck_on_its_image_or_config_is_a_warning(reason: str):
    seen = feed(("ADDED", "jobs", job()), ("ADDED", "pods", waiting("a", reason, "no such thing")))

    assert told(seen)[-1] == (S.WARNING, reason)
    assert seen[-1].message == "container main: no such thing"


def test_table_complete_succeeds_read_from_the_condition_not_the_counters():
    counted = job(succeeded=1)
    complete = job(("Complete", "CompletionsReached", "Reached expected number"), succeeded=1)

    seen = feed(
        ("ADDED", "jobs", job()),
        ("MODIFIED", "pods", ended("a", 0, "Completed")),
        ("MODIFIED", "jobs", counted),
    )
    assert S.SUCCEEDED not in [o.status for o in seen]
    seen += feed(("ADDED", "jobs", complete))
    assert told(seen)[-1] == (S.SUCCEEDED, "Completed")


def test_table_backoff_exhausted_fails_with_the_pods_reason_and_exit_code():
    failed = job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"))

    seen = feed(
        ("ADDED", "jobs", job()),
        ("MODIFIED", "pods", ended("a", 137, "OOMKilled")),
        ("MODIFIED", "jobs", failed),
    )

    assert told(seen) == [(S.STARTING, "Created"), (S.RUNNING, "Running"), (S.FAILED, "OOMKilled")]
    assert seen[-1].exit_code == 137
    assert seen[-1].message == (
        "OOMKilled (exit code 137) in container main of pod axon-r1-a; "
        "BackoffLimitExceeded: Job has reached the specified backoff limit"
    )


def test_table_a_job_past_its_deadline_fails_with_deadline_exceeded():
    late = job(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"))

    seen = feed(
        ("ADDED", "jobs", job()), ("MODIFIED", "pods", running()), ("MODIFIED", "jobs", late)
    )

    assert told(seen)[-1] == (S.FAILED, "DeadlineExceeded")
    assert seen[-1].message.endswith("(timeout 60s)")


def test_table_a_failed_pod_retries_within_the_backoff_limit_and_not_beyond():
    within = feed(("ADDED", "jobs", job(backoff=1)), ("MODIFIED", "pods", ended("a", 2, "Error")))
    beyond = feed(("ADDED", "jobs", job(backoff=0)), ("MODIFIED", "pods", ended("a", 2, "Error")))

    assert told(within)[-1] == (S.RETRYING, "PodFailed")
    assert within[-1].message.startswith("Error (exit code 2) in container main")
    assert S.RETRYING not in [o.status for o in beyond]


def test_table_a_crash_looping_container_is_retrying():
    crashed = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": T0}}
    looping = pod("a", "Running", state={"waiting": {"reason": "CrashLoopBackOff"}})
    looping["status"]["containerStatuses"][0].update(lastState=crashed, restartCount=1)

    seen = feed(("ADDED", "jobs", job(backoff=3)), ("MODIFIED", "pods", looping))

    assert told(seen)[-1] == (S.RETRYING, "CrashLoopBackOff")
    assert seen[-1].exit_code == 1


def test_table_a_suspended_job_is_starting():
    seen = feed(("ADDED", "jobs", job(("Suspended", "JobSuspended", "Job suspended"))))

    assert told(seen) == [(S.STARTING, "Suspended")]


def test_table_a_deployment_that_stops_progressing_is_a_warning():
    stalled = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    deployment = {"metadata": meta("axon-r1"), "status": {"conditions": [stalled]}}

    seen = feed(("ADDED", "deployments", deployment))

    assert told(seen)[-1] == (S.WARNING, "ProgressDeadlineExceeded")


def test_table_kubeflow_conditions_the_last_true_one_counts():
    def pytorchjob(*kinds: str) -> dict[str, Any]:
        found = [{"type": k, "status": "True", "reason": f"PyTorchJob{k}"} for k in kinds]
        return {"metadata": meta("axon-r1"), "status": {"conditions": found}}

    seen = feed(
        ("ADDED", "pytorchjobs", pytorchjob("Created")),
        ("MODIFIED", "pods", running("master-0")),
        ("MODIFIED", "pytorchjobs", pytorchjob("Created", "Running", "Restarting")),
        ("MODIFIED", "pods", running("master-0")),
        ("MODIFIED", "pytorchjobs", pytorchjob("Created", "Running", "Succeeded")),
    )

    assert [o.status for o in seen] == [S.STARTING, S.RUNNING, S.RETRYING, S.SUCCEEDED]


def test_table_a_deletion_is_a_stop_by_axon_or_by_someone_else_and_nothing_after_the_end():
    stopped = job()
    stopped["metadata"]["annotations"]["axon.dev/stop-requested"] = "true"
    complete = job(("Complete", "CompletionsReached", ""))

    by_axon = feed(("ADDED", "jobs", job()), ("DELETED", "jobs", stopped))
    by_others = feed(("ADDED", "jobs", job()), ("DELETED", "jobs", job()))
    by_ttl = feed(("ADDED", "jobs", complete), ("DELETED", "jobs", complete))

    assert told(by_axon)[-1] == (S.STOPPED, "Stopped")
    assert told(by_others)[-1] == (S.STOPPED, "Deleted")
    assert told(by_ttl) == [
        (S.STARTING, "Created"),
        (S.RUNNING, "Running"),
        (S.SUCCEEDED, "Completed"),
    ]


def test_a_relist_missing_an_object_means_it_was_deleted():
    tracker = Tracker(settle=0)
    tracker.sync("jobs", "default", [job()])
    assert told(tracker.go_live()) == [(S.STARTING, "Created")]

    assert told(tracker.sync("jobs", "default", [])) == [(S.STOPPED, "Deleted")]
    assert tracker.sync("jobs", "default", [job()]) == []  # an ended run's late news


def test_a_failure_waits_a_moment_for_its_pods_reason_then_goes_without_it():
    failed = job(("Failed", "BackoffLimitExceeded", "limit reached"))
    clock = SimClock(speed=None)
    tracker = Tracker(settle=0.2, clock=clock.now)
    tracker.go_live()

    assert told(tracker.apply("ADDED", "jobs", failed)) == []
    assert tracker.due() == []
    clock.jump(0.15)
    assert tracker.due() == []
    clock.jump(0.1)
    assert told(tracker.due()) == [(S.STARTING, "Created"), (S.FAILED, "BackoffLimitExceeded")]


def test_a_run_submitted_again_after_its_object_went_is_followed_anew():
    first, again = job(), job()
    first["metadata"]["uid"], again["metadata"]["uid"] = "uid-1", "uid-2"

    seen = feed(("ADDED", "jobs", first), ("DELETED", "jobs", first), ("ADDED", "jobs", again))

    assert told(seen) == [(S.STARTING, "Created"), (S.STOPPED, "Deleted"), (S.STARTING, "Created")]


def test_a_pod_killed_because_it_was_deleted_is_not_the_runs_failure():
    failed = job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
    killed = ended("b", 143, "Error")
    killed["metadata"]["deletionTimestamp"] = T0

    seen = feed(
        ("ADDED", "jobs", job(backoff=1)),
        ("MODIFIED", "pods", ended("a", 137, "OOMKilled")),
        ("MODIFIED", "pods", killed),
        ("MODIFIED", "jobs", failed),
    )

    assert (seen[-1].status, seen[-1].reason, seen[-1].exit_code) == (S.FAILED, "OOMKilled", 137)
