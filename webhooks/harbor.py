"""Harbor webhook deliveries.

Features: Harbor signs nothing; it sends `Authorization: <the policy's auth header>` verbatim,
so verify() compares the whole header with the source's secret in constant time. Set the
secret to exactly what the Harbor policy's "Auth Header" field holds (e.g. `Bearer abc123`).
Events: PUSH_ARTIFACT (Default format) and harbor.artifact.pushed (CloudEvents format, Harbor
2.8+) become one `registry` Event per pushed resource: `image` is the resource URL without its
tag or digest (`harbor.example.com/project/app`), `image_tag` the tag (empty for a push by
digest, where Harbor repeats the digest as the tag), `digest`, `actor` the operator, `repo`
the repository's `repo_full_name`. Other event types parse to no Event.
Dedupe key: the body's sha256 (no delivery id header; `occur_at` or the CloudEvents `id` tell
deliveries apart).
Config: the source's `secret`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.errors import PayloadError
from schemas.event import Event
from webhooks.base import WebhookProvider
from webhooks.registry_auth import check_header

# Event type → the key holding the event data: the Default format, then CloudEvents.
PUSH_TYPES = {"PUSH_ARTIFACT": "event_data", "harbor.artifact.pushed": "data"}


class HarborProvider(WebhookProvider):
    name = "harbor"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_header(headers, secret)

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError("harbor: body is not a JSON object")
        kind = str(payload.get("type") or "")
        if not kind:
            raise PayloadError("harbor: field 'type' missing")
        if kind not in PUSH_TYPES:
            return []
        where, key = f"harbor {kind}", PUSH_TYPES[kind]
        data = payload.get(key)
        if not isinstance(data, Mapping) or not isinstance(data.get("resources"), list):
            raise PayloadError(f"{where}: field '{key}.resources' missing")
        repository = data.get("repository")
        repo = repository.get("repo_full_name") if isinstance(repository, Mapping) else None
        return [
            _resource(payload, resource, str(repo or ""), where, f"{key}.resources[{i}]")
            for i, resource in enumerate(data["resources"])
        ]


def _image(resource_url: str) -> str:
    """`host/project/app` from `host/project/app:tag` or `host/project/app@sha256:…`."""
    name = resource_url.split("@", 1)[0]
    # A colon after the last slash starts a tag; one before it is the host's port.
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _resource(payload: Mapping[str, Any], resource: Any, repo: str, where: str, at: str) -> Event:
    if not isinstance(resource, Mapping):
        raise PayloadError(f"{where}: field '{at}' is not an object")
    digest = str(resource.get("digest") or "")
    if not digest:
        raise PayloadError(f"{where}: field '{at}.digest' missing")
    image = _image(str(resource.get("resource_url") or "")) or repo
    if not image:
        raise PayloadError(f"{where}: field '{at}.resource_url' missing")
    tag = str(resource.get("tag") or "")
    return Event(
        kind="registry",
        provider="harbor",
        repo=repo,
        actor=str(payload.get("operator") or ""),
        image=image,
        image_tag="" if tag == digest or tag.startswith("sha256:") else tag,
        digest=digest,
        raw=dict(payload),
    )
