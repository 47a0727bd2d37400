"""Recorded GitLab and Gitea deliveries with the headers those forges send, and vector helpers."""

from __future__ import annotations

import copy
import hashlib
import hmac
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import FIXTURES, fixture_bytes, load_json

Delivery = tuple[dict[str, str], bytes]


def signature_vectors(provider: str) -> list[dict[str, Any]]:
    """Every published vector of `provider` in signatures/vectors.json."""
    return [v for v in load_json("signatures/vectors.json")["vectors"] if v["provider"] == provider]


def vector_body(vector: dict[str, Any]) -> bytes:
    if vector.get("body_file"):
        return (FIXTURES / vector["body_file"]).read_bytes()
    if vector.get("body") is None:  # token schemes sign nothing, so their vectors carry no body
        return b"{}"
    return str(vector["body"]).encode(vector.get("body_encoding", "utf-8"))


def without(payload: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A deep copy of `payload` with the key at `dotted` removed."""
    copied = copy.deepcopy(payload)
    *parents, last = dotted.split(".")
    node = copied
    for part in parents:
        node = node[part]
    del node[last]
    return copied


def gitlab_headers(hook: str, token: str | None = "topsecret") -> dict[str, str]:
    """Headers as GitLab 17 sends them (see tests/fixtures/README.md)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.11.1-ee",
        "X-Gitlab-Event": hook,
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return headers


GITLAB_HOOKS = {
    "push": "Push Hook",
    "tag": "Tag Push Hook",
    "merge": "Merge Request Hook",
    "note": "Note Hook",
}


@pytest.fixture
def gitlab_delivery() -> Callable[..., Delivery]:
    """(headers, body) of a recorded GitLab delivery, e.g. gitlab_delivery("tag_push")."""

    def make(name: str, token: str | None = "topsecret") -> Delivery:
        hook = GITLAB_HOOKS[name.split("_")[0]]
        return gitlab_headers(hook, token), fixture_bytes(f"webhooks/gitlab/{name}.json")

    return make


def gitea_headers(
    event: str, body: bytes, secret: str | None, event_type: str | None = None
) -> dict[str, str]:
    """Headers as Gitea sends them: one digest under Gitea's, Gogs' and GitHub's names."""
    delivery = str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    for vendor in ("Gitea", "Gogs", "GitHub"):
        headers[f"X-{vendor}-Delivery"] = delivery
        headers[f"X-{vendor}-Event"] = event
        headers[f"X-{vendor}-Event-Type"] = event_type or event
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Gitea-Signature"] = headers["X-Gogs-Signature"] = digest
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
        sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        headers["X-Hub-Signature"] = f"sha1={sha1}"
    return headers


GITEA_EVENTS = {
    "push": ("push", "push"),
    "create_branch": ("create", "create"),
    "pull_request_opened": ("pull_request", "pull_request"),
    "pull_request_edited": ("pull_request", "pull_request"),
    "pull_request_synchronized": ("pull_request", "pull_request_sync"),
}


@pytest.fixture
def gitea_delivery() -> Callable[..., Delivery]:
    """(headers, body) of a recorded Gitea delivery, e.g. gitea_delivery("create_branch")."""

    def make(name: str, secret: str | None = "topsecret") -> Delivery:
        body = fixture_bytes(f"webhooks/gitea/{name}.json")
        event, event_type = GITEA_EVENTS[name]
        return gitea_headers(event, body, secret, event_type), body

    return make
