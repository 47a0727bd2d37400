"""Several clusters: a run's queue picks the runner configuration that owns it, stop and
capacity go to the run's own cluster, and a cluster that cannot be reached holds up only its
own runs, whose ends are recorded once it is back.

Two API-server doubles on loopback are the clusters `east` (queue `gpu`, one run at a time)
and `west` (queue `cpu`), `west` behind a proxy that the tests cut; the default runner stays
`local`. The database is a fresh one the agent's threads share, as in production.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci.agent.process import Agent
from ci.runs import launch, lifecycle
from ci.store.db import Database
from ci.store.models import Project, Run
from tests.conftest import drop_database, fresh_database
from tests.e2e.proxy import TcpProxy
from tests.fakes.kubernetes import KubernetesDouble, PodScript
from tests.waiting import wait_for

FOREVER = PodScript(duration=None)
RECORDED = 15.0  # seconds a status may take to be recorded (the agent backs off up to 5 s)


class Clusters:
    """Two doubles, `west` reached through a proxy the test can cut."""

    def __init__(self, east: KubernetesDouble, west: KubernetesDouble, proxy: TcpProxy) -> None:
        self.east, self.west, self.proxy = east, west, proxy

    def configuration(self, home: Path) -> str:
        east = self.east.kubeconfig(home / "east.kubeconfig")
        west = self.west.kubeconfig(home / "west.kubeconfig")
        west.write_text(
            west.read_text().replace(self.west.url, f"http://127.0.0.1:{self.proxy.port}")
        )
        return json.dumps(
            [
                {
                    "name": "east",
                    "kind": "kubernetes",
                    "kubeconfig": str(east),
                    "kubeflow": False,
                    "queues": {"gpu": {"concurrency": 1}},
                },
                {
                    "name": "west",
                    "kind": "kubernetes",
                    "kubeconfig": str(west),
                    "namespace": "batch",
                    "kubeflow": False,
                    "queues": ["cpu"],
                },
            ]
        )


@pytest.fixture(scope="module")
def clusters() -> Iterator[Clusters]:
    # West's clock moves only when a test says, so its runs end while it is unreachable.
    with (
        KubernetesDouble(speed=10, watch_timeout=20, kubeflow=False) as east,
        KubernetesDouble(speed=None, watch_timeout=20, kubeflow=False) as west,
    ):
        proxy = TcpProxy(("127.0.0.1", int(west.url.rsplit(":", 1)[1]))).up()
        try:
            yield Clusters(east, west, proxy)
        finally:
            proxy.down()


@pytest.fixture(scope="module")
def database_url(postgres: str) -> Iterator[str]:
    url = fresh_database("axon_clusters")
    yield url
    drop_database(url)


@pytest.fixture
def settings(settings: Any, clusters: Clusters, database_url: str, tmp_path: Path) -> Any:
    return settings.model_copy(
        update={"database_url": database_url, "runners": clusters.configuration(tmp_path)}
    )


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The fresh database itself: the agent's threads commit as in production."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def create(rt: Any, db: Database, clusters: Clusters) -> Any:
    """Create a run of a new project's operation on queue `queue`, whose pods behave as
    `script` says on either cluster (default: the double's, a short success); its id."""

    def make(queue: str | None = None, script: PodScript | None = None) -> int:
        operation: dict[str, Any] = {
            "version": 1.1,
            "kind": "operation",
            "name": "train",
            "component": {
                "version": 1.1,
                "kind": "component",
                "name": "trainer",
                "run": {"kind": "job", "container": {"image": "python:3.11", "command": ["true"]}},
            },
        }
        if queue is not None:
            operation["queue"] = queue
        with db.session() as session:
            project = Project(name=f"c{uuid.uuid4().hex[:10]}")
            if script is not None:
                for double in (clusters.east, clusters.west):
                    double.script(f"axon.dev/project={project.name}", script)
            session.add(project)
            session.flush()
            run = Run(project_id=project.id, name="train", spec=operation, runner="local")
            lifecycle.create(session, run, "Test")
            session.flush()
            return int(run.id)

    return make


def start(rt: Any, db: Database, run_id: int) -> Run:
    """Start the run as the axon.start_run task does; the stored row afterwards."""
    with db.session() as session:
        launch.start_run(rt, session, run_id)
    return stored(db, run_id)


def stored(db: Database, run_id: int) -> Run:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run


def last_condition(db: Database, run_id: int) -> tuple[str, str]:
    """(reason, message) of the run's newest status."""
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.conditions[-1].reason, run.conditions[-1].message


def job(external_id: str) -> tuple[str, str]:
    """(namespace, name) of a Job's external id `<namespace>/jobs/<name>`."""
    namespace, _, name = external_id.split("/")
    return namespace, name


@pytest.fixture
def agent(rt: Any) -> Iterator[Agent]:
    """The agent watching every configuration, each on its own thread."""
    watcher = Agent(rt)
    stop = threading.Event()
    threads = [
        threading.Thread(target=watcher.watch, args=(stop, runner), daemon=True)
        for runner in watcher.runners
    ]
    for thread in threads:
        thread.start()
    yield watcher
    stop.set()
    for thread in threads:
        thread.join(15)


def status_of(db: Database, run_id: int, wanted: str) -> bool:
    return stored(db, run_id).status == wanted


def lost(caplog: pytest.LogCaptureFixture, port: int) -> bool:
    """Whether a watch of the cluster on `port` could not reach it (the runner watches again)."""
    return any(
        record.name == "runners.kubernetes.watch" and f"port={port}" in record.getMessage()
        for record in caplog.records
    )


def test_a_runs_queue_sends_it_to_the_cluster_that_owns_the_queue(rt, db, create, clusters):
    on_gpu, on_cpu, named = create("gpu"), create("cpu", FOREVER), create("west/cpu")

    gpu, cpu, west = (start(rt, db, run_id) for run_id in (on_gpu, on_cpu, named))

    assert (gpu.runner, gpu.status) == ("east", "scheduled")
    assert (cpu.runner, cpu.status) == ("west", "scheduled")
    assert (west.runner, west.status) == ("west", "scheduled")
    assert clusters.east.get("jobs", job(gpu.external_id)[1]) is not None
    assert cpu.external_id.startswith("batch/jobs/")
    assert clusters.west.get("jobs", job(cpu.external_id)[1], namespace="batch") is not None
    assert clusters.east.get("jobs", job(cpu.external_id)[1], namespace="batch") is None


def test_a_run_naming_no_queue_stays_on_the_default_runner(rt, db, create):
    run_id = create()

    with db.session() as session:
        run = session.get(Run, run_id)
        launch.compile_run(rt, session, run)
        assert (run.status, run.runner) == ("compiled", "local")


@pytest.mark.parametrize(
    ("queue", "reason"),
    [
        ("large", "queue: no runner configuration owns queue 'large'; known queues: gpu (east), "),
        ("north/gpu", "queue: no runner configuration 'north'; known configurations: local, "),
        ("east/cpu", "queue: runner configuration 'east' has no queue 'cpu'; its queues: gpu"),
    ],
)
def test_a_queue_no_configuration_owns_fails_the_run_at_compile_naming_the_known(
    rt, db, create, queue, reason
):
    run = start(rt, db, create(queue))

    assert (run.status, run.runner) == ("failed", "local")
    why, message = last_condition(db, run.id)
    assert why == "CompilationError"
    assert message.startswith(reason)


def test_a_subscription_whose_queue_no_configuration_owns_is_refused_with_the_known_ones(
    client, create
):
    project = f"c{uuid.uuid4().hex[:10]}"
    assert client.post("/api/v1/projects", json={"name": project}).status_code == 201
    operation = {
        "version": 1.1,
        "kind": "operation",
        "queue": "large",
        "component": {
            "version": 1.1,
            "kind": "component",
            "run": {"kind": "service", "container": {"image": "nginx"}},
        },
    }
    doc = {"name": "serve", "repo": "acme/app", "on": {"push": {}}, "operation": operation}

    refused = client.post(f"/api/v1/projects/{project}/subscriptions", json=doc)
    doc["operation"]["queue"] = "gpu"  # a service: the local default could not run it, east can
    accepted = client.post(f"/api/v1/projects/{project}/subscriptions", json=doc)

    assert refused.status_code == 422, refused.json
    assert "operation.queue" in refused.text
    assert "no runner configuration owns queue 'large'; known queues: gpu (east), cpu (west)" in (
        refused.text
    )
    assert accepted.status_code == 201, accepted.json


def test_stop_and_capacity_go_to_the_runs_own_cluster(rt, db, create, clusters):
    first = start(rt, db, create("gpu", FOREVER))
    second = start(rt, db, create("gpu", FOREVER))
    elsewhere = start(rt, db, create("cpu", FOREVER))

    assert first.status == "scheduled"
    assert second.status == "queued"  # east's gpu queue takes one run at a time
    assert "queue 'gpu' is full" in last_condition(db, second.id)[1]
    assert elsewhere.status == "scheduled"  # west's queues are west's

    with db.session() as session:
        assert launch.request_stop(session, session.get(Run, first.id))
    with db.session() as session:
        launch.stop_run(rt, session, first.id)

    namespace, name = job(first.external_id)
    wait_for(lambda: clusters.east.get("jobs", name, namespace) is None, 5, message="east's Job")
    assert clusters.west.get("jobs", job(elsewhere.external_id)[1], "batch") is not None


def test_a_cluster_that_cannot_be_reached_holds_up_only_its_own_runs(
    rt, db, create, clusters, agent, caplog
):
    on_west = start(rt, db, create("cpu", PodScript(duration=5.0)))
    clusters.west.advance(1.0)
    wait_for(lambda: status_of(db, on_west.id, "running"), RECORDED, message="west run running")

    clusters.proxy.down()
    clusters.west.advance(10.0)  # the west run ends while nobody can see it
    west_job = job(on_west.external_id)[1]
    wait_for(lambda: clusters.west.job_finished(west_job, "batch"), RECORDED, message="Job ends")
    on_east = start(rt, db, create("gpu", PodScript(duration=1.0)))

    wait_for(lambda: status_of(db, on_east.id, "succeeded"), RECORDED, message="east run ends")
    wait_for(lambda: lost(caplog, clusters.proxy.port), RECORDED, message="west's watch lost")
    assert stored(db, on_west.id).status == "running"  # untouched, not failed
    assert not lost(caplog, int(clusters.east.url.rsplit(":", 1)[1]))

    clusters.proxy.up()
    wait_for(lambda: status_of(db, on_west.id, "succeeded"), RECORDED, message="west run ends")


def test_a_manual_run_whose_preset_sets_the_queue_goes_to_that_queues_cluster(client, db):
    project = f"c{uuid.uuid4().hex[:10]}"
    assert client.post("/api/v1/projects", json={"name": project}).status_code == 201
    service = {
        "version": 1.1,
        "kind": "operation",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "serve",
            "run": {"kind": "service", "container": {"image": "nginx"}},
        },
    }
    on_gpu = {"version": 1.1, "kind": "operation", "isPreset": True, "queue": "gpu"}
    nowhere = {**on_gpu, "queue": "large"}

    accepted = client.post(
        f"/api/v1/projects/{project}/runs", json={"content": service, "presets": [on_gpu]}
    )
    refused = client.post(
        f"/api/v1/projects/{project}/runs", json={"content": service, "presets": [nowhere]}
    )

    assert accepted.status_code == 201, accepted.json
    assert refused.status_code == 422, refused.json
    assert "no runner configuration owns queue 'large'" in refused.text


def test_one_agent_watches_every_configuration_unless_told_one(rt):
    assert [runner.name for runner in Agent(rt).runners] == ["local", "east", "west"]
    assert [runner.name for runner in Agent(rt, "west").runners] == ["west"]
