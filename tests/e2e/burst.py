"""A burst of GitHub pushes sent as GitHub would, and what must hold once it has been handled.

A sender tries a delivery again while Axon answers anything but 2xx (GitHub's redeliver button,
a proxy's retry); only the deliveries that got a 2xx are Axon's to keep. Each must be stored
once, end `processed`, and have made its run exactly once; no Axon process may have died.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from tests.conftest import github_headers, load_json
from tests.e2e.harness import Axon
from tests.e2e.scenario import NAME, OWNER
from tests.waiting import wait_for

SECRET = "It's a Secret"
RUN_BRANCH, QUIET_BRANCH = "main", "docs"
SENDERS = 8


def subscribe(
    axon: Axon, code: str = "print('trained')", report: dict[str, Any] | None = None
) -> tuple[str, str]:
    """A project whose pushes to main run a one-line job (no checkout; no reports unless asked)."""
    project = f"p{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": SECRET}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    doc = {
        "name": "train-on-main",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": [RUN_BRANCH]}},
        "checkout": False,
        "report": report or {},
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
                    "container": {
                        "image": "python:3.11",
                        "command": [sys.executable, "-c", code],
                    },
                },
            },
        },
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


@dataclass(frozen=True)
class Push:
    delivery: str  # GitHub's X-GitHub-Delivery
    branch: str
    headers: dict[str, str]
    body: bytes

    @property
    def runs(self) -> int:
        """How many runs this push must make: the subscription runs pushes to main only."""
        return int(self.branch == RUN_BRANCH)


def push(branch: str, delivery: str | None = None) -> Push:
    payload = load_json("webhooks/github/push_branch_commits.json")
    payload["ref"] = f"refs/heads/{branch}"
    body = json.dumps(payload).encode()
    delivery = delivery or str(uuid.uuid4())
    return Push(delivery, branch, github_headers("push", body, SECRET, delivery), body)


def pushes(count: int, run_every: int = 5) -> list[Push]:
    """`count` distinct pushes; every `run_every`-th goes to main and makes a run."""
    return [push(RUN_BRANCH if n % run_every == 0 else QUIET_BRANCH) for n in range(count)]


def deliver(axon: Axon, source: str, item: Push, deadline: float) -> int:
    """Send until Axon answers 2xx (or the deadline passes); the last status (0: no answer)."""
    status = 0
    while time.monotonic() < deadline:
        try:
            status = axon.api(
                "POST", f"/webhooks/github/{source}", data=item.body, headers=item.headers
            ).status_code
        except requests.RequestException:
            status = 0
        if 200 <= status < 300:
            return status
        time.sleep(0.2)
    return status


def send_all(
    axon: Axon,
    source: str,
    items: list[Push],
    during: Callable[[], Any] | None = None,
    timeout: float = 60.0,
) -> list[Push]:
    """Send every push from a few senders at once, calling `during()` once about a third of
    them are out; the pushes answered 2xx."""
    deadline = time.monotonic() + timeout
    answered: dict[str, int] = {}
    with ThreadPoolExecutor(SENDERS) as senders:
        futures = [senders.submit(deliver, axon, source, item, deadline) for item in items]
        if during is not None:
            wait_for(
                lambda: sum(f.done() for f in futures) >= len(items) // 3,
                timeout,
                0.01,
                "a third of the pushes answered",
            )
            during()
        for item, future in zip(items, futures, strict=True):
            answered[item.delivery] = future.result()
    return [item for item in items if 200 <= answered[item.delivery] < 300]


def processed_once(axon: Axon, project: str, accepted: list[Push], timeout: float = 60.0) -> None:
    """Every accepted push is stored once and processed, with exactly its runs, all finished;
    every Axon process is still alive."""
    wanted = {item.delivery: item for item in accepted}
    stored: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []

    def all_handled() -> bool:
        nonlocal stored, runs
        stored = [
            d
            for d in axon.api("GET", "/api/v1/deliveries", params={"limit": 500}).json()
            if d["delivery_id"] in wanted
        ]
        runs = axon.api("GET", "/api/v1/runs", params={"project": project, "limit": 500}).json()
        return len(stored) >= len(wanted) and not _waiting(stored) and not _unfinished(runs)

    def what() -> str:
        waiting, unfinished = _waiting(stored), _unfinished(runs)
        return (
            f"{len(stored)}/{len(wanted)} stored, {len(waiting)} not processed "
            f"(e.g. {waiting[:3]}), {len(unfinished)} runs unfinished "
            f"(e.g. {unfinished[:3]})\n{axon.logs()}"
        )

    wait_for(all_handled, timeout, 0.5, what)
    copies = Counter(d["delivery_id"] for d in stored)
    assert set(copies) == set(wanted) and set(copies.values()) == {1}
    runs_of = Counter(r["delivery"] for r in runs)
    made = {d["delivery_id"]: runs_of[d["id"]] for d in stored}
    assert made == {key: item.runs for key, item in wanted.items()}
    assert len(runs) == sum(item.runs for item in accepted)
    assert_alive(axon)


def _waiting(deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in deliveries if d["status"] != "processed"]


def _unfinished(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r["status"] != "succeeded"]


def assert_alive(axon: Axon) -> None:
    ended = {name: process.poll() for name, process in axon.processes}
    dead = {name: status for name, status in ended.items() if status is not None}
    assert not dead, f"axon processes ended: {dead}\n{axon.logs()}"
