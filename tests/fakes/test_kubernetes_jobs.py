"""Jobs on the simulated cluster: scripted pods run, fail, retry, stay pending, log, get deleted.

Each test scripts how the pods behave (`PodScript`) and then looks only through the official
client, as the application will: statuses, conditions, events and logs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.fakes.kubernetes import KubernetesDouble, PodScript, fixtures
from tests.fakes.kubernetes.fixtures import NS, conditions, job_manifest, pods_of, wait_for_phase

# The shared fixtures, by name, for pytest to find.
k8s = fixtures.k8s
api = fixtures.api
batch = fixtures.batch
core = fixtures.core

GPU_MESSAGE = (
    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
    "available: 3 No preemption victims found for incoming pod."
)


def test_a_failed_pod_is_replaced_within_the_backoff_limit(k8s, batch, core):
    k8s.script("train", PodScript(exit_code=1), PodScript(exit_code=0))

    batch.create_namespaced_job(NS, job_manifest("train", backoffLimit=2))
    k8s.wait_for(lambda: k8s.job_finished("train"))

    job = batch.read_namespaced_job("train", NS)
    assert (job.status.failed, job.status.succeeded) == (1, 1)
    assert conditions(job)[-1] == ("Complete", "True", "CompletionsReached")
    pods = sorted(pods_of(core, "train"), key=lambda p: p.metadata.creation_timestamp)
    terminated = [p.status.container_statuses[0].state.terminated for p in pods]
    assert sorted((t.exit_code, t.reason) for t in terminated) == [(0, "Completed"), (1, "Error")]
    assert {p.metadata.owner_references[0].name for p in pods} == {"train"}
    assert all(p.metadata.finalizers is None for p in pods)


def test_an_oom_killed_pod_fails_the_job_after_its_backoff(k8s, batch, core):
    k8s.script("train", PodScript(oom=True, duration=0.1))

    batch.create_namespaced_job(NS, job_manifest("train", backoffLimit=1))
    k8s.wait_for(lambda: k8s.job_finished("train"))

    job = batch.read_namespaced_job("train", NS)
    assert conditions(job) == [
        ("FailureTarget", "True", "BackoffLimitExceeded"),
        ("Failed", "True", "BackoffLimitExceeded"),
    ]
    assert job.status.conditions[-1].message == "Job has reached the specified backoff limit"
    assert job.status.failed == 2 and job.status.completion_time is None
    for pod in pods_of(core, "train"):
        assert pod.status.phase == "Failed"
        terminated = pod.status.container_statuses[0].state.terminated
        assert (terminated.exit_code, terminated.reason) == (137, "OOMKilled")


def test_on_failure_restarts_the_container_in_place(k8s, batch, core):
    k8s.script("train", PodScript(exit_code=2, logs=["try 1"]), PodScript(logs=["try 2"]))

    batch.create_namespaced_job(NS, job_manifest("train", restart_policy="OnFailure"))
    k8s.wait_for(lambda: k8s.job_finished("train"))

    [pod] = pods_of(core, "train")
    status = pod.status.container_statuses[0]
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 2
    assert status.state.terminated.reason == "Completed"
    name = pod.metadata.name
    assert core.read_namespaced_pod_log(name, NS) == "try 2\n"
    assert core.read_namespaced_pod_log(name, NS, previous=True) == "try 1\n"


def test_active_deadline_seconds_fails_the_job_and_stops_its_pod(k8s, batch, core):
    k8s.script("train", PodScript(duration=None))

    batch.create_namespaced_job(NS, job_manifest("train", activeDeadlineSeconds=1))
    k8s.wait_for(lambda: k8s.job_finished("train"))

    job = batch.read_namespaced_job("train", NS)
    assert conditions(job)[-1] == ("Failed", "True", "DeadlineExceeded")
    assert job.status.conditions[-1].message == "Job was active longer than specified deadline"
    k8s.wait_for(lambda: not k8s.pods_of("train"))


def test_a_pod_failure_policy_fails_the_job_on_an_exit_code(k8s, batch):
    k8s.script("train", PodScript(exit_code=42))
    rule = {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}

    batch.create_namespaced_job(
        NS, job_manifest("train", backoffLimit=5, podFailurePolicy={"rules": [rule]})
    )
    k8s.wait_for(lambda: k8s.job_finished("train"))

    job = batch.read_namespaced_job("train", NS)
    assert conditions(job)[-1] == ("Failed", "True", "PodFailurePolicy")
    assert "failed with exit code 42 matching FailJob rule at index 0" in (
        job.status.conditions[-1].message
    )


def test_a_suspended_job_starts_no_pod_until_resumed(k8s, batch):
    batch.create_namespaced_job(NS, job_manifest("train", suspend=True))
    k8s.wait_for(lambda: k8s.condition("jobs", "train", "Suspended") == "True")
    assert k8s.pods_of("train") == []

    batch.patch_namespaced_job("train", NS, {"spec": {"suspend": False}})
    k8s.wait_for(lambda: k8s.job_finished("train"))

    job = batch.read_namespaced_job("train", NS)
    assert ("Suspended", "False", "JobResumed") in conditions(job)
    assert job.status.start_time is not None


def test_ttl_after_finished_deletes_the_job_and_its_pods(k8s, batch):
    k8s.script("train", PodScript(duration=0.1))
    rv = batch.list_namespaced_job(NS).metadata.resource_version

    batch.create_namespaced_job(NS, job_manifest("train", ttlSecondsAfterFinished=1))
    kinds = []
    for event in watch.Watch().stream(
        batch.list_namespaced_job, NS, resource_version=rv, timeout_seconds=5
    ):
        kinds.append(event["type"])
        if event["type"] == "DELETED":
            break

    assert kinds[0] == "ADDED" and kinds[-1] == "DELETED"
    k8s.wait_for(lambda: not k8s.pods_of("train") and not k8s.objects("pods"))
    with pytest.raises(ApiException) as raised:
        batch.read_namespaced_job("train", NS)
    assert raised.value.status == 404


def test_a_manual_clock_moves_only_when_advanced():
    with KubernetesDouble(speed=None) as k8s, client.ApiClient(k8s.configuration()) as api:
        jobs = client.BatchV1Api(api)
        k8s.script("train", PodScript(duration=5))
        jobs.create_namespaced_job(NS, job_manifest("train"))
        assert k8s.pods_of("train") == []

        k8s.advance()
        [pod] = k8s.pods_of("train")
        assert pod["status"]["phase"] == "Running"

        k8s.advance(4.9)
        assert not k8s.job_finished("train")
        k8s.advance(0.1)
        assert k8s.job_finished("train")


# -- Pods that do not run --------------------------------------------------------------------


def test_an_unschedulable_pod_stays_pending_with_the_schedulers_message(k8s, batch, core):
    k8s.script("train", PodScript(unschedulable=GPU_MESSAGE))

    batch.create_namespaced_job(NS, job_manifest("train"))
    k8s.wait_for(lambda: any(p["status"].get("conditions") for p in k8s.pods_of("train")))

    [pod] = pods_of(core, "train")
    assert pod.status.phase == "Pending"
    [scheduled] = pod.status.conditions
    assert (scheduled.type, scheduled.status, scheduled.reason) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert scheduled.message == GPU_MESSAGE
    events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pod.metadata.name},reason=FailedScheduling"
    )
    [event] = events.items
    assert (event.type, event.message, event.source.component) == (
        "Warning",
        GPU_MESSAGE,
        "default-scheduler",
    )
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log(pod.metadata.name, NS)
    assert json.loads(raised.value.body)["message"] == (
        f"pod {pod.metadata.name} does not have a host assigned"
    )


def test_a_pod_unschedulable_for_a_while_then_runs(k8s, batch, core):
    k8s.script("train", PodScript(unschedulable=GPU_MESSAGE, unschedulable_for=1, duration=0.1))

    batch.create_namespaced_job(NS, job_manifest("train"))
    k8s.wait_for(lambda: k8s.job_finished("train"))

    [pod] = pods_of(core, "train")
    assert ("PodScheduled", "True", None) in conditions(pod)
    reasons = [e.reason for e in core.list_namespaced_event(NS).items]
    assert "FailedScheduling" in reasons and "Scheduled" in reasons


def test_an_image_that_cannot_be_pulled_backs_off_with_a_message(k8s, batch, core):
    error = 'rpc error: code = NotFound desc = failed to pull and unpack image "nope:1": not found'
    k8s.script("train", PodScript(image_pull_error=error))
    manifest = job_manifest("train")
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "nope:1"

    batch.create_namespaced_job(NS, manifest)

    def waiting_reason() -> str | None:
        pods = k8s.pods_of("train")
        statuses = pods[0]["status"].get("containerStatuses") if pods else None
        return statuses[0]["state"].get("waiting", {}).get("reason") if statuses else None

    k8s.wait_for(lambda: waiting_reason() == "ImagePullBackOff")
    [pod] = pods_of(core, "train")
    waiting = pod.status.container_statuses[0].state.waiting
    assert waiting.message == 'Back-off pulling image "nope:1"'
    assert pod.status.phase == "Pending"
    reasons = {
        (e.reason, e.message)
        for e in core.list_namespaced_event(
            NS, field_selector=f"involvedObject.name={pod.metadata.name}"
        ).items
    }
    assert ("Failed", f'Failed to pull image "nope:1": {error}') in reasons
    assert ("BackOff", 'Back-off pulling image "nope:1"') in reasons
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log(pod.metadata.name, NS)
    assert json.loads(raised.value.body)["message"] == (
        f'container "main" in pod "{pod.metadata.name}" is waiting to start: trying and failing '
        "to pull image"
    )


# -- logs ------------------------------------------------------------------------------------


def test_followed_logs_end_when_the_container_terminates(k8s, batch, core):
    k8s.script("train", PodScript(duration=2, logs=["epoch 1", "epoch 2", "", "done"]))
    batch.create_namespaced_job(NS, job_manifest("train"))
    name = wait_for_phase(k8s, "train", "Running")

    lines = list(
        watch.Watch().stream(
            core.read_namespaced_pod_log, name=name, namespace=NS, _request_timeout=5
        )
    )

    assert lines == ["epoch 1", "epoch 2", "", "done"]
    terminated = core.read_namespaced_pod(name, NS).status.container_statuses[0].state
    assert terminated.terminated is not None


def test_logs_with_tail_lines_and_timestamps(k8s, batch, core):
    k8s.script("train", PodScript(duration=0.5, logs=["a", "b", "c"]))
    batch.create_namespaced_job(NS, job_manifest("train"))
    k8s.wait_for(lambda: k8s.job_finished("train"))
    [pod] = pods_of(core, "train")

    text = core.read_namespaced_pod_log(pod.metadata.name, NS, tail_lines=2, timestamps=True)

    stamped = text.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["b", "c"]
    assert all(line[:30].endswith("Z") and line[4] == "-" for line in stamped)


def test_log_requests_the_kubelet_cannot_answer_are_400(k8s, core):
    k8s.script("web", PodScript(start_delay=60))
    containers = [{"name": n, "image": "nginx:1.27"} for n in ("web", "proxy")]
    core.create_namespaced_pod(
        NS, {"metadata": {"name": "web"}, "spec": {"containers": containers}}
    )
    k8s.wait_for(lambda: (k8s.get("pods", "web") or {}).get("spec", {}).get("nodeName"))

    def message(**kwargs: Any) -> str:
        with pytest.raises(ApiException) as raised:
            core.read_namespaced_pod_log("web", NS, **kwargs)
        assert raised.value.status == 400
        return json.loads(raised.value.body)["message"]

    assert message() == "a container name must be specified for pod web, choose one of: [web proxy]"
    assert message(container="db") == "container db is not valid for pod web"
    assert message(container="web") == (
        'container "web" in pod "web" is waiting to start: ContainerCreating'
    )
    assert message(container="web", previous=True) == (
        'previous terminated container "web" in pod "web" not found'
    )


def test_logs_of_a_pod_that_is_gone_are_404(k8s, core):
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod_log("gone", NS)

    assert raised.value.status == 404


# -- deletion --------------------------------------------------------------------------------


def test_deleting_a_job_without_a_policy_orphans_its_pods(k8s, batch, core):
    k8s.script("train", PodScript(duration=None))
    batch.create_namespaced_job(NS, job_manifest("train"))
    wait_for_phase(k8s, "train", "Running")

    # The server answers with the Job itself (its "orphan" finalizer pending), not a Status;
    # client 37 hands the answer of a delete back as a plain dict.
    answer = batch.delete_namespaced_job("train", NS)
    assert answer["kind"] == "Job" and "orphan" in answer["metadata"]["finalizers"]

    k8s.wait_for(lambda: k8s.get("jobs", "train") is None)
    [pod] = pods_of(core, "train")
    assert pod.status.phase == "Running"
    assert pod.metadata.owner_references is None and pod.metadata.finalizers is None


def test_deleting_a_job_in_the_background_removes_its_pods(k8s, batch, core):
    k8s.script("train", PodScript(duration=None))
    batch.create_namespaced_job(NS, job_manifest("train"))
    wait_for_phase(k8s, "train", "Running")

    answer = batch.delete_namespaced_job("train", NS, propagation_policy="Background")

    assert (answer["kind"], answer["status"], answer["details"]["name"]) == (
        "Status",
        "Success",
        "train",
    )
    k8s.wait_for(lambda: not pods_of(core, "train"))


def test_foreground_deletion_removes_the_pods_before_the_job(k8s, batch):
    k8s.script("train", PodScript(duration=None))
    batch.create_namespaced_job(NS, job_manifest("train"))
    wait_for_phase(k8s, "train", "Running")
    rv = batch.list_namespaced_job(NS).metadata.resource_version

    answer = batch.delete_namespaced_job("train", NS, propagation_policy="Foreground")
    assert answer["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert answer["metadata"]["deletionTimestamp"]
    events = []
    for event in watch.Watch().stream(
        batch.list_namespaced_job, NS, resource_version=rv, timeout_seconds=5
    ):
        events.append(event["type"])
        if event["type"] == "DELETED":
            break
    assert k8s.pods_of("train") == [] and k8s.objects("pods") == []


def test_a_deleted_pod_is_counted_failed_and_replaced(k8s, batch, core):
    k8s.script("train", PodScript(duration=None), PodScript(duration=0.2))
    batch.create_namespaced_job(NS, job_manifest("train"))
    first = wait_for_phase(k8s, "train", "Running")

    deleted = core.delete_namespaced_pod(first, NS)
    k8s.wait_for(lambda: k8s.job_finished("train"))

    assert deleted.metadata.deletion_timestamp is not None
    job = batch.read_namespaced_job("train", NS)
    assert (job.status.failed, job.status.succeeded) == (1, 1)
    assert k8s.get("pods", first) is None
