"""An agent whose Role may not list or watch Jobs or pods logs the API server's refusal in its
words, keeps observing again with its backoff, and fails no run for it: once the Role is fixed
on the live cluster, the runs' news is recorded as if nothing had happened.

The cluster is the API-server double; the database a fresh one the agent's thread commits to,
as in production.
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
from runners.kubernetes.manifests import Workload
from tests.conftest import drop_database, fresh_database
from tests.fakes.kubernetes import KubernetesDouble, PodScript
from tests.fakes.kubernetes.rbac import AGENT_USER
from tests.waiting import wait_for

RECORDED = 20.0  # seconds: the agent backs off up to 5 s between observers


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    with KubernetesDouble(speed=10, watch_timeout=20, kubeflow=False) as double:
        yield double


@pytest.fixture
def database_url(postgres: str) -> Iterator[str]:
    url = fresh_database("axon_rbac")
    yield url
    drop_database(url)


@pytest.fixture
def settings(settings: Any, k8s: KubernetesDouble, database_url: str, tmp_path: Path) -> Any:
    cluster = {
        "name": "cluster",
        "kind": "kubernetes",
        "kubeconfig": str(k8s.kubeconfig(tmp_path / "cluster.kubeconfig")),
        "kubeflow": False,
        "queues": ["cpu"],
    }
    runners = json.dumps([cluster])
    return settings.model_copy(update={"database_url": database_url, "runners": runners})


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def started_run(rt: Any, db: Database, k8s: KubernetesDouble) -> tuple[int, str]:
    """A run on queue `cpu` whose pod prints a line and succeeds, submitted; its id and Job."""
    operation = {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "queue": "cpu",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "run": {"kind": "job", "container": {"image": "python:3.11", "command": ["true"]}},
        },
    }
    with db.session() as session:
        project = Project(name=f"r{uuid.uuid4().hex[:10]}")
        k8s.script(f"axon.dev/project={project.name}", PodScript(logs=["done"], duration=1))
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="train", spec=operation, runner="local")
        lifecycle.create(session, run, "Test")
        session.flush()
        run_id = int(run.id)
    with db.session() as session:
        launch.start_run(rt, session, run_id)
    with db.session() as session:
        submitted = session.get(Run, run_id)
        assert submitted is not None
        assert submitted.status == "scheduled", submitted.status
        return run_id, Workload.parse(str(submitted.external_id)).name


def status(db: Database, run_id: int) -> str:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return str(run.status)


def refusals(caplog: pytest.LogCaptureFixture, message: str) -> list[str]:
    """The agent's log lines (not their tracebacks) that carry `message`."""
    said = (r.getMessage() for r in caplog.records if r.name == "ci.agent.process")
    return [line for line in said if message in line]


@pytest.mark.parametrize(
    ("verb", "resource", "refused"),
    [
        # The agent's first look at the cluster: which runs' Jobs are still there.
        ("list", "jobs", 'jobs.batch is forbidden: {user} cannot list resource "jobs" in API '
         'group "batch" in the namespace "default"'),
        ("watch", "pods", 'pods is forbidden: {user} cannot watch resource "pods" in API group '
         '"" in the namespace "default"'),
    ],
)  # fmt: skip
def test_a_forbidden_list_or_watch_is_logged_in_the_servers_words_and_tried_again_until_allowed(
    rt, db, k8s, caplog, verb, resource, refused
):
    denial = k8s.forbid(verb, resource, "default")
    run_id, job = started_run(rt, db, k8s)
    message = f"kubernetes refused to {verb} {resource} in namespace default: " + refused.format(
        user=f'User "{AGENT_USER}"'
    )

    with caplog.at_level("WARNING"):
        agent, stop = Agent(rt, "cluster"), threading.Event()
        thread = threading.Thread(target=agent.watch, args=(stop,), daemon=True)
        thread.start()
        try:
            k8s.wait_for(lambda: k8s.job_finished(job), 10)
            # Tried again and again, each time refused in the same words.
            wait_for(lambda: len(refusals(caplog, message)) >= 3, RECORDED, message="refusals")
            assert k8s.calls[(verb, resource)] >= 3
            assert status(db, run_id) != "failed"
            assert "HTTP response headers" not in caplog.text

            k8s.permit(denial)

            wait_for(lambda: status(db, run_id) == "succeeded", RECORDED, message="recorded")
        finally:
            stop.set()
            thread.join(15)
    assert refusals(caplog, message)[0] == (
        f"watching runner cluster failed; watching again: {message} (403 Forbidden)"
    )
