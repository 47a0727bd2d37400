"""The servers under test and the services around them: gunicorn, the queue, the tables."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kombu import Connection
from sqlalchemy import create_engine, text

from tests.conftest import github_headers
from tests.e2e.harness import Axon

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
SECRET = "bench-secret"  # the GitHub source's webhook secret
REPO = "Codertocat/Hello-World"  # the recorded push's repository
BRANCH = "master"  # and its branch


class Gunicorn(Axon):
    """One gunicorn with exactly the command line Axon's production mode uses, serving `app`:
    Axon's own `wsgi:app` or a baseline. No worker. For Axon, also `axon agent`: its outbox
    relay publishes what the API stores, so that cost is on the same two cores."""

    def __init__(self, app: str, home: Path, env: dict[str, str], relay: bool = False) -> None:
        home.mkdir(parents=True, exist_ok=True)
        super().__init__("production", home, env)
        self.app, self.relay = app, relay

    def commands(self) -> list[tuple[str, list[str]]]:
        wanted = {"api", "agent"} if self.relay else {"api"}
        return [
            (name, [self.app if part == "wsgi:app" else part for part in command])
            for name, command in super().commands()
            if name in wanted
        ]

    def command_line(self) -> str:
        command = dict(self.commands())["api"]
        return " ".join([Path(command[0]).name, *command[1:]])


def push_headers(body: bytes, tag: str) -> Callable[[int], dict[str, str]]:
    """Request index -> headers of a signed push whose X-GitHub-Delivery is new every time."""
    nonce = uuid.uuid4().hex[:12]

    def headers(index: int) -> dict[str, str]:
        return github_headers("push", body, SECRET, f"{tag}-{nonce}-{index}")

    return headers


def operation() -> dict[str, Any]:
    """An operation that does nothing, quickly: what is measured is Axon, not the job."""
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "noop",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "noop",
            "run": {
                "kind": "job",
                "container": {"image": "python:3.11", "command": [sys.executable, "-c", "pass"]},
            },
        },
    }


def subscribe(axon: Axon, secret: str) -> tuple[str, str]:
    """A project, a GitHub source and a subscription matching the recorded push, created
    through the REST API; returns (project, source)."""
    project = f"bench{uuid.uuid4().hex[:8]}"
    answer = axon.api("POST", "/api/v1/projects", json={"name": project})
    assert answer.status_code == 201, answer.text
    source = {"name": f"gh-{project}", "provider": "github", "secret": secret}
    answer = axon.api("POST", f"/api/v1/projects/{project}/sources", json=source)
    assert answer.status_code == 201, answer.text
    doc = {
        "name": "noop-on-push",
        "repo": REPO,
        "on": {"push": {"branches": [BRANCH]}},
        "checkout": False,
        "report": {},  # nowhere: no forge or Slack call may leave this machine
        "operation": operation(),
    }
    answer = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert answer.status_code == 201, answer.text
    return project, source["name"]


class Queue:
    """The Celery queue Axon publishes to, on the machine's RabbitMQ."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.taken = 0  # deliveries named by the messages `deliveries` took off the queue

    def deliveries(self, task: str = "axon.process_deliveries") -> int:
        """The deliveries named by `task`'s messages queued since the last purge.

        The relay's messages each name several, so they are read: what the queue holds is
        taken off it (no worker consumes it) and its deliveries are counted."""
        with Connection(RABBITMQ, connect_timeout=5) as conn:
            channel = conn.default_channel
            try:
                while (message := channel.basic_get(self.name, no_ack=True)) is not None:
                    if message.headers.get("task") == task:
                        self.taken += len(json.loads(message.body)[0][0])
            except conn.channel_errors:  # the queue does not exist (yet)
                pass
        return self.taken

    def _call(self, method: str, **kwargs: Any) -> Any:
        with Connection(RABBITMQ, connect_timeout=5) as conn:
            try:
                return getattr(conn.default_channel, method)(self.name, **kwargs)
            except conn.channel_errors:  # the queue does not exist (yet)
                return None

    def depth(self) -> int:
        declared = self._call("queue_declare", passive=True)
        return int(declared.message_count) if declared else 0

    def purge(self) -> None:
        self._call("queue_purge")
        self.taken = 0

    def delete(self) -> None:
        self._call("queue_delete")


class Tables:
    """Row counts and resets on the benchmark's database."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            exists = conn.scalar(text("SELECT to_regclass(:t)"), {"t": table})
            return int(conn.scalar(text(f"SELECT count(*) FROM {table}"))) if exists else 0

    def truncate(self, *tables: str) -> None:
        with self.engine.connect() as conn:
            for table in tables:
                if conn.scalar(text("SELECT to_regclass(:t)"), {"t": table}):
                    conn.execute(text(f"TRUNCATE {table} CASCADE"))

    def dispose(self) -> None:
        self.engine.dispose()


def wait_drained(queue: Queue, tables: Tables, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until every received delivery's task is on the queue: Axon's outbox relay
    publishes after the API answered, so it can still be busy when the load stops."""
    started = time.perf_counter()
    behind_at_start = behind = tables.count("deliveries") - queue.deliveries()
    while behind > 0 and time.perf_counter() - started < timeout:
        time.sleep(0.1)
        behind = tables.count("deliveries") - queue.deliveries()
    return {
        # Deliveries stored but not yet on the queue when the load stopped. Requests still in
        # flight then are stored and published between the two counts, so a few either way
        # mean nothing; hundreds mean the relay fell behind the intake.
        "rows_minus_queued_at_end_of_load": behind_at_start,
        "drain_s": round(time.perf_counter() - started, 2),
        "still_behind": max(behind, 0),
    }
