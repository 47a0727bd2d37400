"""Axon on Kubernetes, end to end: a signed push becomes a Job on the API-server double, and
what its pods do comes back as the run's statuses, logs and events.

Axon runs as in production (gunicorn, `axon worker`, `axon agent` on PostgreSQL and RabbitMQ)
with `AXON_RUNNER=kubernetes` and a kubeconfig pointing at the double, which runs its
simulated cluster ten times faster than real time. Every manifest the double receives must
pass kubernetes-validate's strict schema.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes_validate
import pytest
from kubernetes import client

from tests import waiting
from tests.e2e.conftest import _production_env
from tests.e2e.harness import Axon
from tests.e2e.scenario import NAME, OWNER, push_delivery, send
from tests.fakes.kubernetes import KubernetesDouble, PodScript

S_DONE = {"succeeded", "failed", "stopped", "skipped", "upstream_failed"}
PUSHED = {"url": f"https://github.com/{OWNER}/{NAME}.git", "sha": "a" * 40}
FOREVER = PodScript(duration=None, logs=["starting"])
UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


@pytest.fixture(scope="module")
def k8s() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(speed=10, watch_timeout=60, bookmark_interval=5) as double:
        yield double
        assert double.schema_problems() == []


@pytest.fixture(scope="module")
def axon(
    k8s: KubernetesDouble, tmp_path_factory: pytest.TempPathFactory, postgres: str, rabbitmq: str
) -> Iterator[Axon]:
    """Production-mode Axon whose runner is the double's cluster; queue `gpu` takes one run."""
    cleanup: list[Callable[[], None]] = []
    home = tmp_path_factory.mktemp("axon-kubernetes")
    env = {
        **_production_env(cleanup),
        "AXON_RUNNER": "kubernetes",
        "AXON_KUBERNETES_KUBECONFIG": str(k8s.kubeconfig(home / "kubeconfig")),
        "AXON_KUBERNETES_NAMESPACE": "default",
        "AXON_KUBERNETES_QUEUES": json.dumps({"gpu": {"concurrency": 1}}),
        "AXON_KUBERNETES_KUBEFLOW": "false",
    }
    server = Axon("production", home, env)
    try:
        yield server.start()
    finally:
        server.stop()
        for step in reversed(cleanup):
            step()


@pytest.fixture(autouse=True)
def _manifests_are_valid(k8s: KubernetesDouble) -> Iterator[None]:
    """Every object Axon asked the double to create during the test passes the strict schema."""
    before = len(k8s.requests)
    yield
    created = [c for c in k8s.requests[before:] if c.verb == "create" and c.body]
    for call in created:
        kubernetes_validate.validate(call.body, k8s.version, strict=True)


def subscribe(
    axon: Axon, k8s: KubernetesDouble, *scripts: PodScript, **component: Any
) -> tuple[str, str]:
    """A project whose pushes run a Job; its pods behave as `scripts` say, in turn."""
    project = f"k{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    k8s.script(f"axon.dev/project={project}", *scripts)
    doc = {
        "name": "train",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}},
        "report": {},
        "operation": {
            "version": 1.1,
            "kind": "operation",
            "name": "train",
            "component": {
                "version": 1.1,
                "kind": "component",
                "name": "trainer",
                "run": {
                    "kind": "job",
                    "container": {"image": "python:3.11", "command": ["python", "train.py"]},
                },
                **component,
            },
        },
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def push(axon: Axon, source: str) -> None:
    assert send(axon, source, *push_delivery(PUSHED)).status_code == 202


def newest_run(axon: Axon, project: str, count: int = 1) -> dict[str, Any]:
    """The newest run of the project once the project has `count` runs."""

    def newest() -> dict[str, Any] | None:
        runs = axon.api("GET", "/api/v1/runs", params={"project": project}).json()
        return runs[0] if len(runs) >= count else None

    return waiting.wait_for(
        newest, 60, 0.05, lambda: f"{project} having {count} run(s)\n{axon.logs()}"
    )


def wait_for(axon: Axon, uuid_: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    """The run once its status is one of `statuses`."""
    last: dict[str, Any] = {}

    def in_statuses() -> dict[str, Any] | None:
        nonlocal last
        last = axon.api("GET", f"/api/v1/runs/{uuid_}").json()
        return last if last["status"] in statuses else None

    def what() -> str:
        return f"run {uuid_} reaching {statuses} from {last.get('status')}\n{axon.logs()}"

    return waiting.wait_for(in_statuses, timeout, 0.05, what)


def history(run: dict[str, Any]) -> list[str]:
    return [c["status"] for c in run["conditions"]]


def job_name(run: dict[str, Any]) -> str:
    return str(run["external_id"]).rsplit("/", 1)[-1]


WHOLE_LIFE = ["created", "compiled", "queued", "scheduled", "starting", "running"]


def test_a_push_runs_a_job_on_the_cluster_that_succeeds_with_its_logs(axon, k8s):
    script = PodScript(duration=1.0, logs=["epoch 1: loss 0.5", "epoch 2: loss 0.25"])
    project, source = subscribe(axon, k8s, script)

    push(axon, source)

    run = wait_for(axon, newest_run(axon, project)["uuid"], S_DONE)
    assert run["status"] == "succeeded", axon.logs()
    assert history(run) == [*WHOLE_LIFE, "succeeded"]
    assert run["external_id"] == f"default/jobs/axon-{run['uuid']}"
    [job] = [
        c.body
        for c in k8s.requests
        if (c.verb, c.name) == ("create", None)
        and c.resource == "jobs"
        and c.body["metadata"]["name"] == job_name(run)
    ]
    assert job["metadata"]["labels"]["axon.dev/project"] == project
    # Its end recorded with its logs, the Job is deleted (no TTL does it blindly).
    k8s.wait_for(lambda: k8s.get("jobs", job_name(run)) is None, timeout=10)
    logs = axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs")
    assert logs.text == "epoch 1: loss 0.5\nepoch 2: loss 0.25\n"
    assert logs.headers["X-Axon-Run-Done"] == "true"


def log_reads(k8s: KubernetesDouble) -> int:
    """Pod log reads that do not follow: the API reading a run's logs on request."""
    return sum(1 for c in k8s.requests if c.resource == "pods/log" and not c.query.get("follow"))


def test_logs_are_stored_while_the_job_runs(axon, k8s):
    lines = [f"step {i}" for i in range(10)]
    # A line every 120 simulated seconds (12 s of real time): the last one is due 108 s after
    # the start, so the job is surely still running with lines to come however slowly a loaded
    # machine gets to look. Then the cluster's clock is moved on and the job ends at once.
    duration = 1200.0
    project, source = subscribe(axon, k8s, PodScript(duration=duration, logs=lines))
    push(axon, source)
    uuid_ = wait_for(axon, newest_run(axon, project)["uuid"], {"running"})["uuid"]

    def stored_so_far() -> str:
        """Logs the API served from what the agent stored (no read from the pod), mid-run."""
        reads = log_reads(k8s)
        text = axon.api("GET", f"/api/v1/runs/{uuid_}/logs").text
        if log_reads(k8s) != reads or not text.startswith("step 0\n") or "step 9" in text:
            return ""
        return text

    live = k8s.wait_for(stored_so_far, timeout=60)

    assert axon.api("GET", f"/api/v1/runs/{uuid_}").json()["status"] == "running"
    assert set(live.splitlines()) < set(lines)
    k8s.advance(duration)
    wait_for(axon, uuid_, S_DONE)
    assert axon.api("GET", f"/api/v1/runs/{uuid_}/logs").text == "".join(f"{x}\n" for x in lines)


def test_an_oom_killed_job_fails_with_the_reason(axon, k8s):
    project, source = subscribe(axon, k8s, PodScript(oom=True))

    push(axon, source)

    run = wait_for(axon, newest_run(axon, project)["uuid"], S_DONE)
    failed = run["conditions"][-1]
    assert (run["status"], failed["reason"]) == ("failed", "OOMKilled")
    assert "OOMKilled (exit code 137) in container main" in failed["message"]
    assert history(run) == [*WHOLE_LIFE, "failed"]


def test_an_unschedulable_job_says_why_and_its_events_show_the_scheduler(axon, k8s):
    project, source = subscribe(axon, k8s, PodScript(unschedulable=UNSCHEDULABLE))

    push(axon, source)

    run = wait_for(axon, newest_run(axon, project)["uuid"], {"unschedulable"})
    assert run["conditions"][-1]["message"] == UNSCHEDULABLE
    events = axon.api("GET", f"/api/v1/runs/{run['uuid']}/events").json()
    assert {"type": "Warning", "reason": "FailedScheduling"} in [
        {"type": e["type"], "reason": e["reason"]} for e in events
    ]
    assert any(UNSCHEDULABLE in e["message"] for e in events)
    axon.api("POST", f"/api/v1/runs/{run['uuid']}/stop")
    assert wait_for(axon, run["uuid"], S_DONE)["status"] == "stopped"


def test_stopping_a_running_job_deletes_it_in_the_background_with_its_pods(axon, k8s):
    project, source = subscribe(axon, k8s, FOREVER)
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"})
    name = job_name(run)

    assert axon.api("POST", f"/api/v1/runs/{run['uuid']}/stop").status_code == 202

    stopped = wait_for(axon, run["uuid"], S_DONE)
    assert stopped["status"] == "stopped"
    assert history(stopped) == [*WHOLE_LIFE, "stopping", "stopped"]
    [delete] = [c for c in k8s.requests if c.verb == "delete" and c.name == name]
    assert (delete.resource, delete.body["propagationPolicy"]) == ("jobs", "Background")
    k8s.wait_for(lambda: k8s.get("jobs", name) is None and not k8s.pods_of(name))


def test_an_agent_killed_mid_run_catches_up_without_losing_or_repeating_a_status(axon, k8s):
    project, source = subscribe(axon, k8s, PodScript(duration=10.0, logs=["working"]))
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"})

    axon.kill_process("agent")
    k8s.wait_for(lambda: k8s.job_finished(job_name(run)), timeout=10)
    axon.start_process("agent")

    ended = wait_for(axon, run["uuid"], S_DONE)
    assert ended["status"] == "succeeded"
    assert history(ended) == [*WHOLE_LIFE, "succeeded"]
    assert axon.api("GET", f"/api/v1/runs/{run['uuid']}/logs").text == "working\n"


def test_a_watch_that_gets_410_relists_and_the_run_still_ends_once(axon, k8s):
    project, source = subscribe(axon, k8s, PodScript(duration=10.0))
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"})
    lists = k8s.calls[("list", "jobs")]

    k8s.compact()  # every resourceVersion handed out so far is too old now
    k8s.kill_connections()  # the agent's watches reconnect from their last version: 410

    ended = wait_for(axon, run["uuid"], S_DONE)
    assert ended["status"] == "succeeded"
    assert history(ended) == [*WHOLE_LIFE, "succeeded"]
    assert k8s.calls[("list", "jobs")] > lists
    assert any(c.verb == "watch" and c.resource == "jobs" for c in k8s.requests)


def test_a_job_deleted_while_the_agent_was_down_fails_as_missing(axon, k8s):
    project, source = subscribe(axon, k8s, FOREVER)
    push(axon, source)
    run = wait_for(axon, newest_run(axon, project)["uuid"], {"running"})
    axon.kill_process("agent")

    with client.ApiClient(k8s.configuration()) as api:
        client.BatchV1Api(api).delete_namespaced_job(
            job_name(run), "default", propagation_policy="Background"
        )
    axon.start_process("agent")

    ended = wait_for(axon, run["uuid"], S_DONE)
    missing = ended["conditions"][-1]
    assert (ended["status"], missing["reason"]) == ("failed", "Missing")
    assert (
        run["external_id"] in missing["message"] and "no agent was watching" in missing["message"]
    )


def test_a_full_queue_keeps_a_run_queued_until_the_one_before_ends(axon, k8s):
    project, source = subscribe(axon, k8s, PodScript(duration=6.0), queue="gpu")
    push(axon, source)
    first = wait_for(axon, newest_run(axon, project)["uuid"], {"running"})

    push(axon, source)
    second = newest_run(axon, project, count=2)

    waiting = wait_for(axon, second["uuid"], {"queued", "scheduled", "failed"})
    assert waiting["status"] == "queued"
    queued = waiting["conditions"][-1]
    assert queued["message"] == (
        "runner kubernetes; queue 'gpu' is full: the run starts when one of its runs ends"
    )
    done_first = wait_for(axon, first["uuid"], S_DONE)
    done_second = wait_for(axon, second["uuid"], S_DONE)
    assert (done_first["status"], done_second["status"]) == ("succeeded", "succeeded")
    assert history(done_second) == [*WHOLE_LIFE, "succeeded"]
    # Both times on the cluster's clock: the second Job was created once the first completed.
    complete = k8s.last_state("jobs", job_name(done_first))["status"]["completionTime"]
    created = k8s.last_state("jobs", job_name(done_second))["metadata"]["creationTimestamp"]
    assert created >= complete
