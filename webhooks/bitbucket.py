"""Bitbucket Cloud webhook deliveries.

Features: HMAC-SHA256 signatures in `X-Hub-Signature: sha256=<hex>` (GitHub's legacy header name,
but SHA-256); events (`X-Event-Key`): repo:push (one Event per changed branch or tag; created,
deleted, forced), pullrequest:created/updated/fulfilled/rejected (kind pull_request) and
pullrequest:comment_created (kind comment). Other events parse to no Event.
Pull request actions take GitHub's words, so a subscription reads the same for every forge:
created → opened, updated → synchronize (Bitbucket sends it for title edits too),
fulfilled → closed with merged, rejected → closed, and a comment's action is "comment".
`branch` is the target branch (GitHub Actions filters pull requests on it). Bitbucket Cloud
serves no pull request ref, so `ref`, `sha` and `clone_url` name the source branch and
repository, where the commit lives. Pull request events carry 12-character commit hashes.
Dedupe key: `X-Request-UUID`.
Config: the source's `secret`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.errors import PayloadError
from schemas.event import Event, PullRequest
from webhooks.base import WebhookProvider, lower_keys
from webhooks.payload import ZERO_SHA, field, integer
from webhooks.signatures import check_bitbucket_style

PR_ACTIONS = {
    "pullrequest:created": "opened",
    "pullrequest:updated": "synchronize",
    "pullrequest:fulfilled": "closed",
    "pullrequest:rejected": "closed",
    "pullrequest:comment_created": "comment",
}


class BitbucketProvider(WebhookProvider):
    name = "bitbucket"
    delivery_header = "X-Request-UUID"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_bitbucket_style(lower_keys(headers), body, secret)

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_keys(headers).get("x-event-key", "")

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        name = self.event_name(headers)
        if not name:
            raise PayloadError("bitbucket: header 'X-Event-Key' missing")
        payload = self.decode(headers, body)
        where = f"bitbucket {name}"
        if not isinstance(payload, dict):
            raise PayloadError(f"{where}: body is not a JSON object")
        if name == "repo:push":
            changes = field(payload, "push.changes", where)
            if not isinstance(changes, list):
                raise PayloadError(f"{where}: field 'push.changes' is not a list")
            return [
                _ref_change(payload, change, where, f"push.changes[{i}].")
                for i, change in enumerate(changes)
            ]
        if name in PR_ACTIONS:
            return [_pull_request(payload, name, where)]
        return []


def _user(user: Any) -> str:
    # Bitbucket dropped `username` from payloads in 2019; `nickname` replaced it.
    if not isinstance(user, Mapping):
        return ""
    return str(user.get("username") or user.get("nickname") or user.get("display_name") or "")


def _html(data: Any) -> str:
    links = data.get("links") if isinstance(data, Mapping) else None
    html = links.get("html") if isinstance(links, Mapping) else None
    return str(html.get("href") or "") if isinstance(html, Mapping) else ""


def _clone_url(repository: Any) -> str:
    # Payloads list no clone links; a repository's page URL plus .git is its HTTPS remote.
    page = _html(repository)
    return f"{page}.git" if page else ""


def _ref_change(payload: dict[str, Any], change: Any, where: str, at: str) -> Event:
    if not isinstance(change, Mapping):
        raise PayloadError(f"{where}: field '{at.rstrip('.')}' is not an object")
    new, old = change.get("new"), change.get("old")
    # A deleted ref has no `new`; its name and type survive only in `old`.
    side, side_at = (new, f"{at}new.") if new is not None else (old, f"{at}old.")
    if not isinstance(side, Mapping):
        raise PayloadError(f"{where}: field '{at}new' missing")
    name = str(field(side, "name", where, side_at))
    is_tag = side.get("type") == "tag"
    target = field(new, "target", where, f"{at}new.") if new is not None else {}
    return Event(
        kind="tag" if is_tag else "push",
        provider="bitbucket",
        repo=str(field(payload, "repository.full_name", where)),
        ref=("refs/tags/" if is_tag else "refs/heads/") + name,
        branch="" if is_tag else name,
        tag=name if is_tag else "",
        sha=str(field(target, "hash", where, f"{at}new.target.")) if new is not None else ZERO_SHA,
        before=str(field(old, "target.hash", where, f"{at}old.")) if old is not None else ZERO_SHA,
        actor=_user(payload.get("actor")),
        message=str(target.get("message") or ""),
        created=bool(change.get("created")) or old is None,
        deleted=bool(change.get("closed")) or new is None,
        forced=bool(change.get("forced")),
        url=_html(change),
        clone_url=_clone_url(payload.get("repository")),
        raw=dict(payload),
    )


def _pull_request(payload: dict[str, Any], name: str, where: str) -> Event:
    pr = field(payload, "pullrequest", where)
    at = "pullrequest."
    head = str(field(pr, "source.branch.name", where, at))
    base = str(field(pr, "destination.branch.name", where, at))
    source_repo = (pr.get("source") or {}).get("repository") or {}
    target_repo = (pr.get("destination") or {}).get("repository") or {}
    is_comment = name == "pullrequest:comment_created"
    return Event(
        kind="comment" if is_comment else "pull_request",
        provider="bitbucket",
        repo=str(field(payload, "repository.full_name", where)),
        ref=f"refs/heads/{head}",
        branch=base,
        sha=str(field(pr, "source.commit.hash", where, at)),
        actor=_user(payload.get("actor")),
        message=str(pr.get("title") or ""),
        pull_request=PullRequest(
            number=integer(pr, "id", where, at),
            action=PR_ACTIONS[name],
            base=base,
            head=head,
            draft=bool(pr.get("draft")),
            # A deleted fork has no source repository; treat it as foreign, not as ours.
            fork=source_repo.get("full_name") != target_repo.get("full_name"),
            merged=name == "pullrequest:fulfilled",
        ),
        comment=str(field(payload, "comment.content.raw", where)) if is_comment else "",
        url=_html(pr),
        clone_url=_clone_url(source_repo) or _clone_url(payload.get("repository")),
        raw=dict(payload),
    )
