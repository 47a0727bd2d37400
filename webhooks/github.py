"""GitHub webhook deliveries.

Features: HMAC-SHA256 signatures in `X-Hub-Signature-256` (SHA-1 `X-Hub-Signature` only when the
source allows legacy signatures); JSON and form-encoded (`payload=`) bodies; events: push
(branch and tag; created, deleted, forced), ping. Other events parse to no Event.
Dedupe key: `X-GitHub-Delivery` (kept by GitHub across redeliveries).
Config: the source's `secret`, `allow_legacy_signatures`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from schemas.errors import PayloadError, SignatureError
from schemas.event import Event
from webhooks.base import WebhookProvider, lower_keys


def _digest_matches(secret: str, body: bytes, signature: str, algorithm: str) -> bool:
    prefix = f"{algorithm}="
    if not signature.startswith(prefix):
        return False
    expected = hmac.new(secret.encode(), body, algorithm).hexdigest()
    return hmac.compare_digest(expected, signature[len(prefix) :].strip().lower())


class GitHubProvider(WebhookProvider):
    name = "github"
    delivery_header = "X-GitHub-Delivery"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        if not secret:
            raise SignatureError("the source has no secret, so no delivery can be verified")
        h = lower_keys(headers)
        if "x-hub-signature-256" in h:
            if not _digest_matches(secret, body, h["x-hub-signature-256"], "sha256"):
                raise SignatureError("X-Hub-Signature-256 does not match the body")
            return
        if "x-hub-signature" in h:
            if not self.allow_legacy_signatures:
                raise SignatureError(
                    "only a SHA-1 X-Hub-Signature was sent; this source requires SHA-256"
                )
            if not _digest_matches(secret, body, h["x-hub-signature"], "sha1"):
                raise SignatureError("X-Hub-Signature does not match the body")
            return
        raise SignatureError("missing X-Hub-Signature-256 header")

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_keys(headers).get("x-github-event", "")

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        name = self.event_name(headers)
        if not name:
            raise PayloadError("github: header 'X-GitHub-Event' missing")
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError(f"github {name}: body is not a JSON object")
        if name == "push":
            return [_push(payload)]
        return []


def _field(payload: Mapping[str, Any], dotted: str, event: str) -> Any:
    value: Any = payload
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise PayloadError(f"github {event}: field '{dotted}' missing")
        value = value[part]
    return value


def _repo_name(payload: Mapping[str, Any]) -> str:
    repo = _field(payload, "repository", "push")
    if isinstance(repo, Mapping) and repo.get("full_name"):
        return str(repo["full_name"])
    # Deliveries before 2013 carry owner as {name, email} and no full_name.
    owner = _field(payload, "repository.owner", "push")
    login = owner.get("login") or owner.get("name") if isinstance(owner, Mapping) else None
    name = _field(payload, "repository.name", "push")
    if not login:
        raise PayloadError("github push: field 'repository.full_name' missing")
    return f"{login}/{name}"


def _changed_paths(commits: list[Any]) -> tuple[str, ...] | None:
    # GitHub lists at most 20 commits; with none listed the changed files are unknown.
    if not commits:
        return None
    paths: dict[str, None] = {}
    for commit in commits:
        for key in ("added", "modified", "removed"):
            for path in commit.get(key) or ():
                paths[str(path)] = None
    return tuple(paths)


def _push(payload: Mapping[str, Any]) -> Event:
    ref = str(_field(payload, "ref", "push"))
    sha = str(_field(payload, "after", "push"))
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise PayloadError("github push: field 'commits' is not a list")
    head = payload.get("head_commit") or (commits[-1] if commits else {}) or {}
    pusher = payload.get("pusher") or {}
    sender = payload.get("sender") or {}
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else ""
    return Event(
        kind="tag" if tag else "push",
        provider="github",
        repo=_repo_name(payload),
        ref=ref,
        branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "",
        tag=tag,
        sha=sha,
        before=str(payload.get("before") or ""),
        changed_paths=_changed_paths(commits),
        actor=str(sender.get("login") or pusher.get("name") or ""),
        message=str(head.get("message") or ""),
        created=bool(payload.get("created")),
        deleted=bool(payload.get("deleted")),
        forced=bool(payload.get("forced")),
        url=str(payload.get("compare") or ""),
        clone_url=str((payload.get("repository") or {}).get("clone_url") or ""),
        raw=dict(payload),
    )
