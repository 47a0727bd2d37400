"""Gitea webhook deliveries.

Features: HMAC-SHA256 signatures, as hex in `X-Gitea-Signature` or as `sha256=<hex>` in
`X-Hub-Signature-256` (Gitea sends both; the SHA-1 `X-Hub-Signature` only when the source allows
legacy signatures); JSON and form-encoded (`payload=`) bodies; events (`X-Gitea-Event`):
- push: kind push or tag (created and deleted from the zero sha, changed paths);
- create / delete: kind create / delete, with the branch or tag;
- pull_request (Gitea also files assign, label, milestone and sync changes under it): kind
  pull_request, shaped as GitHub's. Actions take GitHub's words: `synchronized` becomes
  `synchronize`, `label_updated` (a label added or removed) `labeled`, `label_cleared`
  `unlabeled`; the others (opened, edited, closed with merged, reopened, …) are already GitHub's.
  Draft is Gitea's `draft`, or else a title starting with Gitea's default "WIP:" or "[WIP]".
Other events parse to no Event. Older Gitea put the hook's secret in the body as `secret`; it
is left out of the Event's raw payload.
Dedupe key: `X-Gitea-Delivery`.
Config: the source's `secret`, `allow_legacy_signatures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from schemas.errors import PayloadError, SignatureError
from schemas.event import Event
from webhooks.base import WebhookProvider, lower_keys
from webhooks.github_events import changed_paths, pull_request_event, ref_event
from webhooks.payload import ZERO_SHA, field, text
from webhooks.signatures import check_github_style, digest_matches, require_secret

PR_ACTIONS = {
    "synchronized": "synchronize",
    "label_updated": "labeled",
    "label_cleared": "unlabeled",
}
WIP_PREFIXES = ("WIP:", "[WIP]")


class GiteaProvider(WebhookProvider):
    name = "gitea"
    delivery_header = "X-Gitea-Delivery"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        require_secret(secret)
        h = lower_keys(headers)
        if "x-gitea-signature" in h:
            # Bare hex, where GitHub's headers (also sent) carry a `sha256=` prefix.
            if not digest_matches(h["x-gitea-signature"], secret, body):
                raise SignatureError("X-Gitea-Signature does not match the body")
            return
        if not check_github_style(h, body, secret, self.allow_legacy_signatures):
            raise SignatureError("missing X-Gitea-Signature header")

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_keys(headers).get("x-gitea-event", "")

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        name = self.event_name(headers)
        if not name:
            raise PayloadError("gitea: header 'X-Gitea-Event' missing")
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError(f"gitea {name}: body is not a JSON object")
        parser = PARSERS.get(name)
        if parser is None:
            return []
        # The hook's own secret must not travel on with the event.
        return parser({k: v for k, v in payload.items() if k != "secret"})


def _push(payload: Mapping[str, Any]) -> list[Event]:
    where = "gitea push"
    ref = str(field(payload, "ref", where))
    sha = str(field(payload, "after", where))
    before = text(payload, "before")
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise PayloadError(f"{where}: field 'commits' is not a list")
    # Gitea lists only the newest few commits (5 by default) and counts them all in
    # total_commits; changed files from a shortened list would let path filters miss changes.
    total = payload.get("total_commits")
    listed_all = not isinstance(total, int) or total <= len(commits)
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else ""
    return [
        Event(
            kind="tag" if tag else "push",
            provider="gitea",
            repo=str(field(payload, "repository.full_name", where)),
            ref=ref,
            branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "",
            tag=tag,
            sha=sha,
            before=before,
            changed_paths=changed_paths(commits) if listed_all else None,
            actor=text(payload, "sender.login") or text(payload, "pusher.login"),
            message=text(payload, "head_commit.message"),
            created=before == ZERO_SHA,
            deleted=sha == ZERO_SHA,
            url=text(payload, "compare_url"),
            clone_url=text(payload, "repository.clone_url"),
            raw=dict(payload),
        )
    ]


def _pull_request(payload: Mapping[str, Any]) -> list[Event]:
    action = str(field(payload, "action", "gitea pull_request"))
    pr = payload.get("pull_request")
    draft = pr.get("draft") if isinstance(pr, Mapping) else None
    if draft is None:
        draft = text(pr, "title").upper().startswith(WIP_PREFIXES)
    return [pull_request_event(payload, "gitea", PR_ACTIONS.get(action, action), bool(draft))]


PARSERS: dict[str, Callable[[Mapping[str, Any]], list[Event]]] = {
    "push": _push,
    "create": partial(ref_event, provider="gitea", name="create"),
    "delete": partial(ref_event, provider="gitea", name="delete"),
    "pull_request": _pull_request,
}
