"""GitHub webhook deliveries.

Features: HMAC-SHA256 signatures in `X-Hub-Signature-256` (SHA-1 `X-Hub-Signature` only when the
source allows legacy signatures); JSON and form-encoded (`payload=`) bodies; events:
- push: kind push or tag (created, deleted, forced, changed paths);
- create / delete: kind create / delete, with the branch or tag;
- pull_request: kind pull_request, every action (merged on closed; fork when the head repository
  is not the base repository). sha is the head commit; repo, clone_url, branch and base name the
  base side (GitHub Actions filters pull requests on the base branch); ref is refs/pull/<n>/head,
  which the base repository serves for fork heads too;
- issue_comment on a pull request, when created: kind comment with the body and the author's
  association; its PullRequest has number, labels and draft only (the payload names no
  branches). A comment on a plain issue, or an edit or deletion, gives none;
- release: kind release with the tag; the action is in raw;
- package / registry_package of a container image: kind registry (image, image_tag, digest);
- workflow_run: kind workflow_run; action and conclusion are in raw;
- check_suite / check_run `rerequested`: kind rerequest for the head sha.
ping and every other event parse to no Event.
Dedupe key: `X-GitHub-Delivery` (kept by GitHub across redeliveries).
Config: the source's `secret`, `allow_legacy_signatures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from schemas.errors import PayloadError, SignatureError
from schemas.event import Event
from webhooks import github_events as events
from webhooks.base import WebhookProvider, lower_keys
from webhooks.github_events import changed_paths, repo_event
from webhooks.payload import field, mapping, text
from webhooks.signatures import check_github_style, require_secret

# GitHub Packages files container images under these ecosystems; `package_type` is unreliable.
CONTAINER_ECOSYSTEMS = frozenset({"docker", "container"})


class GitHubProvider(WebhookProvider):
    name = "github"
    delivery_header = "X-GitHub-Delivery"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        require_secret(secret)
        if not check_github_style(lower_keys(headers), body, secret, self.allow_legacy_signatures):
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
        parser = PARSERS.get(name)
        return parser(payload) if parser else []


def _field(payload: Mapping[str, Any], dotted: str, event: str) -> Any:
    return field(payload, dotted, f"github {event}")


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
        changed_paths=changed_paths(commits),
        actor=str(sender.get("login") or pusher.get("name") or ""),
        message=str(head.get("message") or ""),
        created=bool(payload.get("created")),
        deleted=bool(payload.get("deleted")),
        forced=bool(payload.get("forced")),
        url=str(payload.get("compare") or ""),
        clone_url=str((payload.get("repository") or {}).get("clone_url") or ""),
        raw=dict(payload),
    )


def _image(payload: Mapping[str, Any], name: str, where: str) -> str:
    url = text(payload, f"{name}.package_version.package_url")
    if url:
        reference = url.split("@", 1)[0]
        if reference.rfind(":") > reference.rfind("/"):
            reference = reference[: reference.rfind(":")]
    else:
        owner = field(payload, f"{name}.owner.login", where)
        reference = f"ghcr.io/{owner}/{field(payload, f'{name}.name', where)}"
    # Docker requires lower-case references; package_url may keep the owner's display case.
    return reference.lower()


def package_event(payload: Mapping[str, Any], name: str) -> list[Event]:
    """A container image pushed to GitHub Packages, as `package` or `registry_package`."""
    where = f"github {name}"
    package = mapping(payload, name, where)
    version = mapping(payload, f"{name}.package_version", where)
    metadata = version.get("container_metadata")
    digest = text(metadata, "tag.digest") or text(metadata, "manifest.digest")
    is_container = str(package.get("ecosystem") or "").lower() in CONTAINER_ECOSYSTEMS
    if not is_container and not digest:
        return []
    if not digest and text(version, "version").startswith("sha256:"):
        digest = text(version, "version")
    return [
        repo_event(
            payload,
            where,
            "registry",
            # An organization's package need not belong to a repository.
            repo=text(payload, "repository.full_name"),
            image=_image(payload, name, where),
            image_tag=text(metadata, "tag.name"),
            digest=digest,
            url=text(version, "html_url"),
        )
    ]


def _pull_request(payload: Mapping[str, Any]) -> Event:
    action = str(_field(payload, "action", "pull_request"))
    return events.pull_request_event(payload, "github", action)


PARSERS: dict[str, Callable[[Mapping[str, Any]], list[Event]]] = {
    "push": lambda payload: [_push(payload)],
    "create": partial(events.ref_event, provider="github", name="create"),
    "delete": partial(events.ref_event, provider="github", name="delete"),
    "pull_request": lambda payload: [_pull_request(payload)],
    "issue_comment": events.comment_event,
    "release": events.release_event,
    "package": partial(package_event, name="package"),
    "registry_package": partial(package_event, name="registry_package"),
    "workflow_run": events.workflow_run_event,
    "check_suite": partial(events.rerequest_event, name="check_suite"),
    "check_run": partial(events.rerequest_event, name="check_run"),
}
