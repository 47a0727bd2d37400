"""Attempts on Kubernetes: a resumed (or core-retried) run's next attempt is a Job of its own,
created beside the last attempt's finished one, and the run ends by what the new Job does.

First against the runner alone (the API-server double through the official client), then
through the core: a pushed run fails on the cluster, `POST /runs/<uuid>/resume` takes it back,
and the agent's recording of the cluster's observations ends it by the second Job's outcome.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from sqlalchemy import update

from ci.agent import recording
from ci.runs import launch
from ci.store.models import Run
from runners.base import Observation, RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.manifests import ATTEMPT, object_name
from schemas.status import DONE, RunStatus
from tests.ci.conftest import Axon
from tests.contracts.runner import observe_until, run_to_end, statuses
from tests.fakes.kubernetes import KubernetesDouble, PodScript, fixtures

S = RunStatus
k8s = fixtures.k8s
FAILS = PodScript(exit_code=1, logs=["first attempt: diverged"])
SUCCEEDS = PodScript(duration=0.3, logs=["second attempt: converged"])


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


def spec_for(k8s: KubernetesDouble, *scripts: PodScript) -> RunSpec:
    """A first attempt's spec; the run's pods (of any attempt) behave as `scripts` say, in turn."""
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", *scripts)
    return RunSpec(
        uuid=run_uuid, name="train", project="mnist", command=["python", "train.py"],
        image="python:3.11",
    )  # fmt: skip


def created_jobs(k8s: KubernetesDouble, run_uuid: str) -> list[str]:
    """The Jobs of the run created so far, whether still there or not."""
    return sorted(
        c.body["metadata"]["name"]
        for c in k8s.requests
        if (c.verb, c.resource, c.status) == ("create", "jobs", 201)
        and c.body["metadata"]["labels"].get("axon.dev/run-uuid") == run_uuid
    )


def job_names(k8s: KubernetesDouble, run_uuid: str) -> list[str]:
    jobs = k8s.objects("jobs")
    return sorted(
        j["metadata"]["name"]
        for j in jobs
        if j["metadata"]["labels"].get("axon.dev/run-uuid") == run_uuid
    )


def watch(
    runner: KubernetesRunner, k8s: KubernetesDouble
) -> tuple[queue.Queue[Observation], Callable[[], None]]:
    """An observer in a thread, already watching (nothing is missed), and how to stop it."""
    seen: queue.Queue[Observation] = queue.Queue()
    stop = threading.Event()

    def consume() -> None:
        for observation in runner.observe(stop):
            seen.put(observation)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    k8s.wait_for(lambda: all(k8s.calls[("watch", p)] for p in ("jobs", "pods", "deployments")))

    def end() -> None:
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive(), "observe() kept going after stop was set"

    return seen, end


def until(
    seen: queue.Queue[Observation],
    everything: list[Observation],
    external_id: str,
    wanted: set[RunStatus],
    timeout: float = 10.0,
) -> list[Observation]:
    """`external_id`'s observations up to the first with one of `wanted`; every observation
    taken (of any run) is added to `everything`. Fails after `timeout`."""
    found: list[Observation] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            observation = seen.get(timeout=0.05)
        except queue.Empty:
            continue
        everything.append(observation)
        if observation.external_id == external_id:
            found.append(observation)
            if observation.status in wanted:
                return found
    pytest.fail(f"{external_id} reached none of {wanted} within {timeout}s; saw {found}")


# -- the runner -------------------------------------------------------------------------------


def test_each_attempt_is_a_job_of_its_own_named_for_it():
    run_uuid = uuid.uuid4().hex

    assert object_name(run_uuid) == f"axon-{run_uuid}"
    assert object_name(run_uuid, 1) == f"axon-{run_uuid}-1"
    assert object_name(run_uuid, 12) == f"axon-{run_uuid}-12"
    # A Job's pods are named `<job>-<5 characters>`: still a DNS label (63 at most).
    assert len(object_name("x" * 40, 999_999)) + 6 <= 63


def test_a_next_attempt_creates_a_second_job_and_ends_by_its_outcome(runner, k8s):
    first = spec_for(k8s, FAILS, SUCCEEDS)
    first_id = runner.submit(first)
    assert run_to_end(runner, first_id)[-1].status == S.FAILED

    second = dataclasses.replace(first, attempt=1)
    second_id = runner.submit(second)

    assert second_id == f"default/jobs/axon-{first.uuid}-1"
    # The first attempt's Job is still there, finished: a new Job beside it, not a 409.
    assert job_names(k8s, first.uuid) == [f"axon-{first.uuid}", f"axon-{first.uuid}-1"]
    assert k8s.get("jobs", f"axon-{first.uuid}-1")["metadata"]["labels"][ATTEMPT] == "1"
    observations = run_to_end(runner, second_id)
    assert statuses(observations) == [S.STARTING, S.RUNNING, S.SUCCEEDED]
    # Each attempt's logs are its own pods'.
    assert runner.logs(second_id) == "second attempt: converged\n"
    assert runner.logs(first_id) == "first attempt: diverged\n"
    # Submitting the same attempt again is idempotent: no third Job.
    assert runner.submit(second) == second_id
    assert len(job_names(k8s, first.uuid)) == 2


def test_a_watcher_never_takes_the_old_jobs_pods_or_end_for_the_new_attempts(runner, k8s):
    training = PodScript(duration=600, logs=["second attempt: training"])
    first = spec_for(k8s, FAILS, training)
    seen, end = watch(runner, k8s)
    everything: list[Observation] = []
    try:
        first_id = runner.submit(first)
        assert until(seen, everything, first_id, DONE)[-1].status == S.FAILED
        second_id = runner.submit(dataclasses.replace(first, attempt=1))
        until(seen, everything, second_id, {S.RUNNING})

        # An observer starting now (an agent restarted) lists both attempts' Jobs and pods:
        # the new attempt is running, whatever the old attempt's failed pod says.
        fresh = observe_until(runner, second_id, {S.RUNNING, *DONE})
        assert statuses(fresh) == [S.STARTING, S.RUNNING]
        # The old Job goes (its ttl, or someone's kubectl): news of neither attempt.
        batch = client.BatchV1Api(runner.api_client)
        batch.delete_namespaced_job(
            f"axon-{first.uuid}", "default", propagation_policy="Background"
        )
        k8s.wait_for(lambda: job_names(k8s, first.uuid) == [f"axon-{first.uuid}-1"])
        k8s.advance(600)
        rest = until(seen, everything, second_id, DONE)
    finally:
        end()

    assert statuses(rest) == [S.SUCCEEDED]
    after_failure = everything[everything.index(_failed(everything, first_id)) + 1 :]
    assert [o for o in after_failure if o.external_id == first_id] == []
    assert runner.logs(second_id) == "second attempt: training\n"


def _failed(observations: list[Observation], external_id: str) -> Observation:
    return next(o for o in observations if o.external_id == external_id and o.status in DONE)


# -- through the core -------------------------------------------------------------------------


def record_to_end(rt: Any, runner: KubernetesRunner, external_id: str) -> None:
    """What the agent does: each observation of the run, up to its end, recorded."""
    for observation in run_to_end(runner, external_id, timeout=10):
        recording.apply(rt, runner, observation)


def test_a_resumed_run_is_a_second_job_and_ends_by_its_outcome(client, db, rt, runner, k8s):
    axon = Axon(client, db)
    axon.create_project()
    axon.subscribe()
    [run_id] = axon.push()
    with db.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(runner="kubernetes"))
        run_uuid = session.get(Run, run_id).uuid
    rt._runners["kubernetes"] = runner  # the cluster is the double's
    k8s.script(f"axon.dev/run-uuid={run_uuid}", FAILS, SUCCEEDS)

    with db.session() as session:
        launch.start_run(rt, session, run_id)
    first = axon.run(run_id)
    record_to_end(rt, runner, first["external_id"])
    assert axon.run(run_id)["status"] == "failed"

    response = client.post(f"/api/v1/runs/{run_uuid}/resume")
    assert response.status_code == 202, response.json
    with db.session() as session:
        launch.start_run(rt, session, run_id)
    second = axon.run(run_id)
    record_to_end(rt, runner, second["external_id"])

    run = axon.run(run_id)
    assert first["external_id"] == f"default/jobs/axon-{run_uuid}"
    assert second["external_id"] == f"default/jobs/axon-{run_uuid}-1"
    # Each attempt was a Job of its own, deleted once its end was recorded with its logs.
    assert created_jobs(k8s, run_uuid) == [f"axon-{run_uuid}", f"axon-{run_uuid}-1"]
    assert job_names(k8s, run_uuid) == []
    assert run["status"] == "succeeded"
    history = [c["status"] for c in run["conditions"]]
    assert history[history.index("failed") :] == [
        "failed", "resuming", "compiled", "queued", "scheduled", "starting", "running",
        "succeeded",
    ]  # fmt: skip
