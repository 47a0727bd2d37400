"""Projects, sources and subscriptions as a user would create them through the API."""

from __future__ import annotations

from typing import Any

OPERATION: dict[str, Any] = {
    "version": 1.1,
    "kind": "operation",
    "name": "train",
    "params": {
        "sha": {"value": "{{ event.sha }}"},
        "branch": {"value": "{{ event.branch }}"},
        "lr": 0.01,
    },
    "component": {
        "version": 1.1,
        "kind": "component",
        "name": "trainer",
        "inputs": [
            {"name": "sha", "type": "str"},
            {"name": "branch", "type": "str"},
            {"name": "lr", "type": "float"},
        ],
        "termination": {"timeout": 60},
        "run": {
            "kind": "job",
            "container": {
                "image": "python:3.11",
                "command": ["python", "-c", "print('training')"],
                "args": ["--lr={{ lr }}", "--sha", "{{ sha }}"],
            },
        },
    },
}


def subscription(name: str = "train-on-main", **overrides: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "repo": "Codertocat/Hello-World",
        "on": {"push": {"branches": ["main", "master", "release/**"]}},
        "operation": OPERATION,
    }
    doc.update(overrides)
    return doc


def setup_project(client: Any, secret: str = "topsecret", **sub: Any) -> None:
    assert client.post("/api/v1/projects", json={"name": "vision"}).status_code == 201
    source = {"name": "gh", "provider": "github", "secret": secret}
    assert client.post("/api/v1/projects/vision/sources", json=source).status_code == 201
    response = client.post("/api/v1/projects/vision/subscriptions", json=subscription(**sub))
    assert response.status_code == 201, response.json
