"""Following on Kubernetes through trouble: log followers that resume after a dropped connection
without repeating a line, Kubeflow kinds installed after watching began, and many followers at
once on one client. On the API-server double (tests/kube_real has the same on a real server).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import uuid
from collections.abc import Iterator

import pytest

from runners.base import Observation, RunSpec
from runners.kubernetes import KubernetesRunner
from runners.kubernetes.watch import RECHECK_SECONDS
from schemas.status import DONE, RunStatus
from tests import waiting
from tests.fakes.kubernetes import KubernetesDouble, PodScript

S = RunStatus
STEPS = [f"step {i}" for i in range(40)]


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    """A double without the Kubeflow CRDs until the test installs them."""
    with KubernetesDouble(speed=10, watch_timeout=20, bookmark_interval=2, kubeflow=False) as made:
        yield made
        assert made.schema_problems() == []


@pytest.fixture
def runner(k8s: KubernetesDouble) -> Iterator[KubernetesRunner]:
    with KubernetesRunner(configuration=k8s.configuration(), watch_timeout=60) as made:
        yield made


def spec_for(k8s: KubernetesDouble, script: PodScript, **fields: object) -> RunSpec:
    run_uuid = uuid.uuid4().hex
    k8s.script(f"axon.dev/run-uuid={run_uuid}", script)
    return RunSpec(
        uuid=run_uuid, name="train", project="mnist", command=["python", "train.py"],
        image="python:3.11", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


class Follower:
    """`follow_logs` read on a thread, its lines collected as they come."""

    def __init__(self, runner: KubernetesRunner, external_id: str) -> None:
        self.lines: list[str] = []
        self.stop = threading.Event()
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, args=(runner, external_id), daemon=True)
        self.thread.start()

    def _read(self, runner: KubernetesRunner, external_id: str) -> None:
        try:
            for line in runner.follow_logs(external_id, self.stop):
                self.lines.append(line)
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended.set()

    def wait_for_end(self, timeout: float) -> list[str]:
        waiting.wait_for(self.ended.is_set, timeout, message="the follower to end")
        self.stop.set()
        assert self.error is None, self.error
        return self.lines


def test_a_follower_resumes_after_its_connection_drops_without_repeating_a_line(runner, k8s):
    spec = spec_for(k8s, PodScript(duration=40, logs=STEPS))
    external_id = runner.submit(spec)
    follower = Follower(runner, external_id)
    waiting.wait_for(lambda: len(follower.lines) >= 5, 10, message="the first lines")

    assert k8s.kill_connections() >= 1
    waiting.wait_for(lambda: len(follower.lines) >= 20, 10, message="lines after the drop")
    assert k8s.kill_connections() >= 1

    assert follower.wait_for_end(15) == STEPS
    resumed = [c for c in k8s.requests if c.resource == "pods/log"]
    assert len(resumed) >= 3 and all(c.query.get("timestamps") == "true" for c in resumed)


def test_with_an_observer_live_a_follower_resumes_too_and_ends_with_the_run(runner, k8s):
    seen, stop = watching(runner)
    try:
        k8s.wait_for(lambda: k8s.calls[("watch", "jobs")] and k8s.calls[("watch", "pods")])
        external_id = runner.submit(spec_for(k8s, PodScript(duration=40, logs=STEPS)))
        follower = Follower(runner, external_id)
        waiting.wait_for(lambda: len(follower.lines) >= 5, 10, message="the first lines")

        k8s.kill_connections()  # the observer's watches and the log stream alike

        assert follower.wait_for_end(15) == STEPS
        assert until(seen, external_id, 10)[-1].status == S.SUCCEEDED
    finally:
        stop.set()


def test_a_follower_waits_out_an_api_server_that_refuses_and_goes_on(runner, k8s):
    spec = spec_for(k8s, PodScript(duration=30, logs=STEPS))
    external_id = runner.submit(spec)
    follower = Follower(runner, external_id)
    waiting.wait_for(lambda: len(follower.lines) >= 5, 10, message="the first lines")
    k8s.fail_next("get", "pods/log", 503, times=2)
    k8s.fail_next("get", "pods", 503, times=2)

    k8s.kill_connections()

    assert follower.wait_for_end(20) == STEPS


def watching(runner: KubernetesRunner) -> tuple[queue.Queue[Observation], threading.Event]:
    seen: queue.Queue[Observation] = queue.Queue()
    stop = threading.Event()

    def consume() -> None:
        for observation in runner.observe(stop):
            seen.put(observation)

    threading.Thread(target=consume, daemon=True).start()
    return seen, stop


def until(seen: queue.Queue[Observation], external_id: str, timeout: float) -> list[Observation]:
    """The run's observations until it is done."""
    got: list[Observation] = []

    def done() -> bool:
        while not seen.empty():
            observation = seen.get()
            if observation.external_id == external_id:
                got.append(observation)
        return any(o.status in DONE for o in got)

    waiting.wait_for(done, timeout, message=lambda: f"{external_id} to end; saw {got}")
    return got


def pytorchjob(k8s: KubernetesDouble) -> RunSpec:
    replica = {"container": {"image": "acme/dist:1", "command": ["python", "dist.py"]}}
    run = {"kind": "pytorchjob", "master": replica, "worker": replica}
    spec = spec_for(k8s, PodScript(duration=0.3, logs=["rank up"]))
    return dataclasses.replace(spec, component={"run": run})


def test_kubeflow_kinds_installed_after_watching_began_are_watched(runner, k8s):
    seen, stop = watching(runner)
    try:
        k8s.wait_for(lambda: k8s.calls[("watch", "jobs")] and k8s.calls[("watch", "pods")])
        k8s.install_kubeflow()
        # Submitted by another process (the worker): this observer hears of it only by looking.
        with KubernetesRunner(configuration=k8s.configuration()) as worker:
            external_id = worker.submit(pytorchjob(k8s))

        observed = until(seen, external_id, RECHECK_SECONDS + 10)
    finally:
        stop.set()

    assert [o.status for o in observed] == [S.STARTING, S.RUNNING, S.SUCCEEDED]


def test_a_kubeflow_run_submitted_by_the_observing_runner_is_watched_at_once(runner, k8s):
    seen, stop = watching(runner)
    try:
        k8s.wait_for(lambda: k8s.calls[("watch", "jobs")] and k8s.calls[("watch", "pods")])
        k8s.install_kubeflow()
        external_id = runner.submit(pytorchjob(k8s))

        observed = until(seen, external_id, RECHECK_SECONDS / 2)
    finally:
        stop.set()

    assert observed[-1].status == S.SUCCEEDED


def test_many_followed_runs_share_the_client_without_overflowing_its_pool(runner, k8s, caplog):
    caplog.set_level(logging.WARNING, logger="urllib3")
    ids = [runner.submit(spec_for(k8s, PodScript(duration=20, logs=STEPS[:10]))) for _ in range(14)]
    followers = [Follower(runner, external_id) for external_id in ids]

    for follower in followers:
        assert follower.wait_for_end(30) == STEPS[:10]
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
