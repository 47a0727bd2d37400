"""A subscribed project, a pushed commit and its runs, and the local runner that starts them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from ci.runs import dispatch, launch, lifecycle
from ci.store.db import Database, utcnow
from ci.store.models import Run
from runners.base import Observation, RunSpec
from runners.local import LocalRunner
from runners.local_launcher import stop_launcher
from schemas.status import DONE, RunStatus
from tests.conftest import fixture_bytes, github_headers
from tests.contracts.runner import observe_until
from tests.fakes.github import GitHubDouble
from tests.fakes.slack import SlackDouble
from tests.runners.conftest import stop_every_run

OWNER, REPO = "Codertocat", "Hello-World"
# The recorded push (tests/fixtures/webhooks/github/push_branch_commits.json): master at this sha.
PUSHED_SHA = "199eddf46df50de8d02e99bf1c5fdb4101338224"
SECRET = "It's a Secret to Everybody"
# A job here ends within a second; the deadline only matters on a very busy machine.
JOB_DEADLINE = 20.0

# The reason and message ci.runs.launch and the local runner give each status, for arranging runs
# that got exactly so far.
REASONS = {
    RunStatus.COMPILED: ("Compiled", "image python:3.11"),
    RunStatus.QUEUED: ("Queued", "runner local"),
    RunStatus.SCHEDULED: ("Submitted", "local: 0f3a"),
    RunStatus.STARTING: ("", "supervisor pid 4242"),
    RunStatus.RUNNING: ("", "command started (pid 4243)"),
    RunStatus.SUCCEEDED: ("", "exit code 0"),
}


def operation(code: str = "print('training')", epochs: Any = 3) -> dict[str, Any]:
    """A Polyaxon operation whose job is `python -c <code>`, typed inputs filled from the push."""
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "params": {"sha": {"value": "{{ event.sha }}"}, "epochs": epochs},
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "inputs": [{"name": "sha", "type": "str"}, {"name": "epochs", "type": "int"}],
            "termination": {"timeout": 30},
            "run": {
                "kind": "job",
                "container": {
                    "image": "python:3.11",
                    "command": [sys.executable, "-c", code],
                    "args": ["--epochs={{ epochs }}", "--sha", "{{ sha }}"],
                },
            },
        },
    }


def subscription(name: str = "train-on-master", **fields: Any) -> dict[str, Any]:
    """A subscription to pushes on master; the job runs in an empty directory (no clone)."""
    doc = {
        "name": name,
        "repo": f"{OWNER}/{REPO}",
        "on": {"push": {"branches": ["master"]}},
        "checkout": False,
        "operation": operation(),
    }
    doc.update(fields)
    return doc


class Axon:
    """Axon as a user drives it: the REST API, GitHub's webhook, and the worker's first task."""

    def __init__(self, client: Any, db: Database) -> None:
        self.client, self.db = client, db

    def create_project(self, name: str = "vision", source: str = "gh") -> None:
        assert self.client.post("/api/v1/projects", json={"name": name}).status_code == 201
        body = {"name": source, "provider": "github", "secret": SECRET}
        response = self.client.post(f"/api/v1/projects/{name}/sources", json=body)
        assert response.status_code == 201, response.json

    def subscribe(self, project: str = "vision", **fields: Any) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/projects/{project}/subscriptions", json=subscription(**fields)
        )
        assert response.status_code == 201, response.json
        return response.json

    def deliver_push(self, source: str = "gh") -> int:
        """POST the recorded push to master, signed as GitHub signs it; the delivery's id."""
        body = fixture_bytes("webhooks/github/push_branch_commits.json")
        response = self.client.post(
            f"/webhooks/github/{source}", data=body, headers=github_headers("push", body, SECRET)
        )
        assert response.status_code == 202, response.json
        return int(response.json["delivery"])

    def push(self, source: str = "gh") -> list[int]:
        """Deliver a push and process it as the worker does; the ids of the runs it created."""
        delivery_id = self.deliver_push(source)
        with self.db.session() as session:
            return dispatch.process_delivery(session, delivery_id)

    def run(self, run_id: int) -> dict[str, Any]:
        """The run as `GET /api/v1/runs/<uuid>` shows it."""
        with self.db.session() as session:
            uuid = session.get(Run, run_id).uuid
        response = self.client.get(f"/api/v1/runs/{uuid}")
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def axon(client: Any, db: Database, enqueued: list[Any]) -> Axon:
    return Axon(client, db)


@pytest.fixture
def created_run(axon: Axon) -> int:
    """The run a push to master created in project "vision": `created`, not started yet."""
    axon.create_project()
    axon.subscribe()
    [run_id] = axon.push()
    return run_id


@pytest.fixture
def local_runner(settings: Any) -> Iterator[LocalRunner]:
    """The local runner on the test's runs_dir; no job it started outlives the test."""
    runner = LocalRunner(settings.runs_dir, poll_interval=0.02)
    yield runner
    stop_every_run(runner)
    stop_launcher(runner.root)


@pytest.fixture
def start(rt: Any, db: Database, local_runner: LocalRunner) -> Callable[[int], None]:
    """Start a run as the axon.start_run task does; its job goes to the test's local runner."""

    def start_run(run_id: int) -> None:
        with db.session() as session:
            launch.start_run(rt, session, run_id)

    return start_run


def advance(db: Database, run_id: int, *statuses: RunStatus) -> None:
    """Move the run through `statuses`, each with the reason its real writer gives."""
    with db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        for status in statuses:
            reason, message = REASONS.get(status, ("", ""))
            lifecycle.transition(session, run, status, reason, message)


def backdate(db: Database, model: Any, row_id: int, seconds: float, *columns: str) -> None:
    """Set `columns` of one row to `seconds` ago, as if it had waited that long."""
    when = utcnow() - timedelta(seconds=seconds)
    with db.session() as session:
        session.execute(
            update(model).where(model.id == row_id).values(dict.fromkeys(columns, when))
        )


def observed_until(
    runner: LocalRunner, external_id: str, statuses: Collection[RunStatus]
) -> list[Observation]:
    """The job's observations up to the first with one of `statuses`; fails after a deadline."""
    return observe_until(runner, external_id, statuses, JOB_DEADLINE)


def observed_to_end(runner: LocalRunner, external_id: str) -> list[Observation]:
    """The job's observations up to its final one; fails after a deadline."""
    return observed_until(runner, external_id, DONE)


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch, local_runner: LocalRunner) -> list[RunSpec]:
    """Every RunSpec handed to the local runner during the test, in order."""
    specs: list[RunSpec] = []
    submit = LocalRunner.submit

    def recording_submit(self: LocalRunner, spec: RunSpec) -> str:
        specs.append(spec)
        return submit(self, spec)

    monkeypatch.setattr(LocalRunner, "submit", recording_submit)
    return specs


@pytest.fixture
def github():
    """The GitHub API double, answering the token the reports use."""
    with GitHubDouble(token="ghp_test") as double:
        yield double


@pytest.fixture
def slack():
    with SlackDouble() as double:
        yield double
