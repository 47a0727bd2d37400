"""Bitbucket Data Center (formerly Bitbucket Server) webhook deliveries.

Features: HMAC-SHA256 signatures in `X-Hub-Signature: sha256=<hex>`; events (`X-Event-Key`, else
the body's `eventKey`): repo:refs_changed (one Event per changed ref: ADD is created, DELETE is
deleted), pr:opened, pr:from_ref_updated, pr:merged, pr:declined (kind pull_request) and
pr:comment:added (kind comment). diagnostics:ping ("Test connection") and other events parse
to no Event. Pull request actions take GitHub's words: opened, synchronize, closed (merged for
pr:merged), and "comment" for a comment. `branch` is the target branch; `ref` is
`refs/pull-requests/<id>/from`, which the target repository (`clone_url`) serves even for a
fork; `sha` and (for pr:from_ref_updated) `before` are the source's. `repo` is
`<project key>/<repository slug>` (`~user/slug` for a personal repository). Pushes say
nothing of force and list no changed files.
Dedupe key: `X-Request-Id`.
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
    "pr:opened": "opened",
    "pr:from_ref_updated": "synchronize",
    "pr:merged": "closed",
    "pr:declined": "closed",
    "pr:comment:added": "comment",
}


class BitbucketServerProvider(WebhookProvider):
    name = "bitbucketserver"
    delivery_header = "X-Request-Id"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        check_bitbucket_style(lower_keys(headers), body, secret)

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_keys(headers).get("x-event-key", "")

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError("bitbucketserver: body is not a JSON object")
        name = self.event_name(headers) or str(payload.get("eventKey") or "")
        if not name:
            raise PayloadError("bitbucketserver: header 'X-Event-Key' and field 'eventKey' missing")
        where = f"bitbucketserver {name}"
        if name == "repo:refs_changed":
            changes = field(payload, "changes", where)
            if not isinstance(changes, list):
                raise PayloadError(f"{where}: field 'changes' is not a list")
            return [
                _ref_change(payload, change, where, f"changes[{i}].")
                for i, change in enumerate(changes)
            ]
        if name in PR_ACTIONS:
            return [_pull_request(payload, name, where)]
        return []


def _repo_name(repository: Any, where: str, at: str) -> str:
    return f"{field(repository, 'project.key', where, at)}/{field(repository, 'slug', where, at)}"


def _links(data: Any, kind: str) -> list[Any]:
    links = data.get("links") if isinstance(data, Mapping) else None
    found = links.get(kind) if isinstance(links, Mapping) else None
    return [link for link in found or () if isinstance(link, Mapping)]


def _self_url(data: Any) -> str:
    return next((str(link.get("href") or "") for link in _links(data, "self")), "")


def _clone_url(repository: Any) -> str:
    # Data Center names its HTTPS remote "http"; the other one is ssh.
    clones = _links(repository, "clone")
    return next((str(c.get("href") or "") for c in clones if c.get("name") == "http"), "")


def _actor(payload: Mapping[str, Any]) -> str:
    actor = payload.get("actor")
    return str(actor.get("name") or actor.get("slug") or "") if isinstance(actor, Mapping) else ""


def _ref_change(payload: dict[str, Any], change: Any, where: str, at: str) -> Event:
    ref = str(field(change, "refId", where, at))
    sha = str(field(change, "toHash", where, at))
    change_type = str(change.get("type") or "")
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else ""
    repository = field(payload, "repository", where)
    # Data Center 7+ adds the pushed tip as `toCommit`; only its own ref may borrow its message.
    to_commit = payload.get("toCommit")
    if not isinstance(to_commit, Mapping) or to_commit.get("id") != sha:
        to_commit = {}
    return Event(
        kind="tag" if tag else "push",
        provider="bitbucketserver",
        repo=_repo_name(repository, where, "repository."),
        ref=ref,
        branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "",
        tag=tag,
        sha=sha,
        before=str(change.get("fromHash") or ZERO_SHA),
        actor=_actor(payload),
        message=str(to_commit.get("message") or ""),
        created=change_type == "ADD",
        deleted=change_type == "DELETE",
        url=_self_url(repository),
        clone_url=_clone_url(repository),
        raw=dict(payload),
    )


def _pull_request(payload: dict[str, Any], name: str, where: str) -> Event:
    pr = field(payload, "pullRequest", where)
    at = "pullRequest."
    pr_number = integer(pr, "id", where, at)
    head = str(field(pr, "fromRef.id", where, at)).removeprefix("refs/heads/")
    base = str(field(pr, "toRef.id", where, at)).removeprefix("refs/heads/")
    source_repo = field(pr, "fromRef.repository", where, at)
    target_repo = field(pr, "toRef.repository", where, at)
    repo = _repo_name(target_repo, where, f"{at}toRef.repository.")
    is_comment = name == "pr:comment:added"
    return Event(
        kind="comment" if is_comment else "pull_request",
        provider="bitbucketserver",
        repo=repo,
        ref=f"refs/pull-requests/{pr_number}/from",
        branch=base,
        sha=str(field(pr, "fromRef.latestCommit", where, at)),
        before=str(payload.get("previousFromHash") or ""),
        actor=_actor(payload),
        message=str(pr.get("title") or ""),
        pull_request=PullRequest(
            number=pr_number,
            action=PR_ACTIONS[name],
            base=base,
            head=head,
            draft=bool(pr.get("draft")),
            fork=_repo_name(source_repo, where, f"{at}fromRef.repository.") != repo,
            merged=name == "pr:merged",
        ),
        comment=str(field(payload, "comment.text", where)) if is_comment else "",
        url=_self_url(pr),
        clone_url=_clone_url(target_repo),
        raw=dict(payload),
    )
