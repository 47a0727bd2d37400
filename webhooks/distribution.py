"""Docker Distribution (registry:2, CNCF distribution) notifications.

Features: no signature; the registry sends the static headers of its
`notifications.endpoints[].headers` config, so verify() accepts `Authorization: Bearer <secret>`
or Basic credentials equal to the secret ("user:password"), compared in constant time.
Envelopes of media type application/vnd.docker.distribution.events.v1+json or v2+json (or
application/json; any other is malformed); each `push` of a manifest becomes one `registry`
Event. A target is a manifest when its media type is one, when it has a tag, or when its URL
is under /manifests/ (2015 registries label manifests application/octet-stream); layer-blob
pushes, pulls, mounts and deletes parse to no Event. `image` is `<host>/<repository>` with
the host of the target URL (the registry's configured name for itself), else the request's
Host; `image_tag` is empty for a push by digest; `raw` is the one registry event (with `id`).
Dedupe key: the body's sha256. The registry sends no delivery id header and delivery_id()
sees only headers; a retried envelope is resent byte for byte, so its hash is stable.
Config: the source's `secret` (a token, or "user:password").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from schemas.errors import PayloadError
from schemas.event import Event
from webhooks.base import WebhookProvider, lower_keys
from webhooks.registry_auth import check_token

ENVELOPE_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.events.v1+json",
        "application/vnd.docker.distribution.events.v2+json",
        "application/json",
    }
)
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    }
)


class DistributionProvider(WebhookProvider):
    name = "distribution"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_token(headers, secret)

    def decode(self, headers: Mapping[str, str], body: bytes) -> Any:
        content_type = lower_keys(headers).get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in ENVELOPE_TYPES:
            raise PayloadError(
                f"distribution: content type {content_type!r} is not a notification envelope"
            )
        return super().decode(headers, body)

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        payload = self.decode(headers, body)
        events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(events, list):
            raise PayloadError("distribution: field 'events' missing")
        parsed = []
        for i, event in enumerate(events):
            at = f"events[{i}]"
            if not isinstance(event, Mapping):
                raise PayloadError(f"distribution: field '{at}' is not an object")
            action = _required(event, "action", "distribution", at)
            target = _required(event, "target", f"distribution {action}", at)
            if action == "push" and isinstance(target, Mapping) and _is_manifest(target):
                parsed.append(_push(event, target, at))
        return parsed


def _required(data: Mapping[str, Any], key: str, where: str, at: str) -> Any:
    if data.get(key) in (None, ""):
        raise PayloadError(f"{where}: field '{at}.{key}' missing")
    return data[key]


def _text(data: Any, key: str) -> str:
    # `request` and `actor` are optional, and an anonymous push sends `actor: {}`.
    return str(data.get(key) or "") if isinstance(data, Mapping) else ""


def _is_manifest(target: Mapping[str, Any]) -> bool:
    # Blobs are never tagged and live under /v2/<name>/blobs/, manifests under /manifests/.
    url_path = urlsplit(str(target.get("url") or "")).path
    return (
        target.get("mediaType") in MANIFEST_TYPES
        or bool(target.get("tag"))
        or "/manifests/" in url_path
    )


def _push(event: Mapping[str, Any], target: Mapping[str, Any], at: str) -> Event:
    repository = str(_required(target, "repository", "distribution push", f"{at}.target"))
    url = str(target.get("url") or "")
    host = urlsplit(url).netloc or _text(event.get("request"), "host")
    return Event(
        kind="registry",
        provider="distribution",
        repo=repository,
        actor=_text(event.get("actor"), "name"),
        image=f"{host}/{repository}" if host else repository,
        image_tag=str(target.get("tag") or ""),
        digest=str(_required(target, "digest", "distribution push", f"{at}.target")),
        url=url,
        raw=dict(event),
    )
