"""What an end-to-end test does as a user: subscribe through the API, push as GitHub does."""

from __future__ import annotations

import json
import sys
import uuid

from tests.conftest import github_headers, load_json

OWNER, NAME = "Codertocat", "Hello-World"


def operation(exit_code: int = 0, sleep: float = 0) -> dict:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "params": {"lr": 0.05, "exit_code": exit_code, "sleep": sleep},
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "inputs": [
                {"name": "lr", "type": "float"},
                {"name": "exit_code", "type": "int"},
                {"name": "sleep", "type": "float"},
            ],
            "termination": {"timeout": 60},
            "run": {
                "kind": "job",
                "container": {
                    "image": "python:3.11",
                    "command": [sys.executable, "train.py"],
                    "args": [
                        "--lr={{ lr }}",
                        "--exit-code",
                        "{{ exit_code }}",
                        "--sleep",
                        "{{ sleep }}",
                    ],
                },
            },
        },
    }


def subscribe(axon, **op) -> tuple[str, str]:
    """A project, a GitHub source and a subscription, created through the REST API."""
    project = f"p{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    doc = {
        "name": "train-on-main",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main", "release/**"]}},
        "operation": operation(**op),
        "report": {"github": {"context": "axon/train"}, "slack": {}},
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def push_delivery(repo: dict, delivery: str | None = None) -> tuple[dict, bytes]:
    """The recorded push, pointed at the test repository, signed as GitHub signs it."""
    payload = load_json("webhooks/github/push_branch_commits.json")
    payload["ref"] = "refs/heads/main"
    payload["after"] = payload["head_commit"]["id"] = repo["sha"]
    payload["repository"]["clone_url"] = repo["url"]
    body = json.dumps(payload).encode()
    return github_headers("push", body, "It's a Secret", delivery), body


def send(axon, source, headers, body):
    return axon.api("POST", f"/webhooks/github/{source}", data=body, headers=headers)
