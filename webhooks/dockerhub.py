"""Docker Hub webhook deliveries.

Features: Docker Hub signs nothing and sends no secret (a webhook is only a name and a URL), so
nothing in a delivery Docker Hub sends by itself proves where it came from. verify() therefore
requires `Authorization: Bearer <secret>` (or Basic credentials equal to the secret), which
Docker Hub cannot add: run Docker Hub's webhook through a proxy that checks its own credential
(such as a long random path or query token in the URL given to Docker Hub) and then adds the
header. A source without a secret accepts nothing.
Events: the one event Docker Hub sends, an image push, becomes one `registry` Event: `image`
and `repo` are `repository.repo_name` (the payload names no registry host), `image_tag` is
`push_data.tag` (absent from 2015-era deliveries), `actor` is `push_data.pusher`. Docker Hub
sends no digest. `callback_url` (the legacy build-chain callback) is never called.
Dedupe key: the body's sha256 (no delivery id is sent; `pushed_at` tells pushes apart).
Config: the source's `secret`.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.errors import PayloadError
from schemas.event import Event
from webhooks.base import WebhookProvider
from webhooks.registry_auth import check_token


class DockerHubProvider(WebhookProvider):
    name = "dockerhub"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_token(headers, secret)

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError("dockerhub push: body is not a JSON object")
        repository, push = payload.get("repository"), payload.get("push_data")
        if not isinstance(push, Mapping):
            raise PayloadError("dockerhub push: field 'push_data' missing")
        if not isinstance(repository, Mapping) or not repository.get("repo_name"):
            raise PayloadError("dockerhub push: field 'repository.repo_name' missing")
        name = repository["repo_name"]
        return [
            Event(
                kind="registry",
                provider="dockerhub",
                repo=str(name),
                actor=str(push.get("pusher") or ""),
                image=str(name),
                image_tag=str(push.get("tag") or ""),
                url=str(repository.get("repo_url") or ""),
                raw=dict(payload),
            )
        ]
