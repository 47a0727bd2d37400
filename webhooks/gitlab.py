"""GitLab webhook deliveries.

Features: the plain secret token in `X-Gitlab-Token`, compared in constant time (GitLab signs
nothing, so the token proves the sender and TLS alone guards the body); JSON bodies; events
(`X-Gitlab-Event`, or the body's `object_kind` for a System Hook):
- Push Hook / Tag Push Hook: kind push / tag (created and deleted from the zero sha; changed
  paths unless GitLab shortened the commit list, which it does past 20 commits);
- Merge Request Hook: kind pull_request. Actions take GitHub's words so one subscription reads
  the same for every forge: open → opened, reopen → reopened, close → closed, merge → closed
  with merged; update → synchronize when it brings commits (`oldrev`), converted_to_draft /
  ready_for_review when it flips draft, labeled / unlabeled when it adds / only removes labels,
  edited otherwise; approved, unapproved, approval, unapproval are kept as GitLab names them;
- Note Hook on a merge request, when created by a person: kind comment (notes on commits,
  issues and snippets, edits and system notes give none). `author_association` stays empty:
  the payload does not say what role the author has in the project.
`repo` is the project's path_with_namespace, `clone_url` its git_http_url. Merge requests:
`branch` and `base` are the target branch, `head` the source branch, `sha` its last commit,
`ref` the `refs/merge-requests/<iid>/head` the target project serves, `fork` when source and
target projects differ. Other events parse to no Event.
Dedupe key: `Idempotency-Key` (GitLab keeps it across retries and manual resends), else, from a
GitLab too old to send one, `X-Gitlab-Event-UUID` (which a manual resend does not keep).
Config: the source's `secret` (GitLab's "Secret token").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.errors import PayloadError, SignatureError
from schemas.event import Event, PullRequest
from webhooks.base import WebhookProvider, lower_keys
from webhooks.github_events import changed_paths
from webhooks.payload import ZERO_SHA, field, integer, mapping, text
from webhooks.signatures import require_secret, same

# X-Gitlab-Event → the body's object_kind, which names the event in errors.
HOOKS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Note Hook": "note",
}
MR_ACTIONS = {"open": "opened", "reopen": "reopened", "close": "closed", "merge": "closed"}


class GitLabProvider(WebhookProvider):
    name = "gitlab"
    delivery_header = "Idempotency-Key"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        require_secret(secret)
        token = lower_keys(headers).get("x-gitlab-token")
        if token is None:
            raise SignatureError("missing X-Gitlab-Token header")
        if not same(token, secret):
            raise SignatureError("X-Gitlab-Token does not match the source's secret token")

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        h = lower_keys(headers)
        return h.get("idempotency-key") or h.get("x-gitlab-event-uuid") or None

    def event_name(self, headers: Mapping[str, str]) -> str:
        return lower_keys(headers).get("x-gitlab-event", "")

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        hook = self.event_name(headers)
        if not hook:
            raise PayloadError("gitlab: header 'X-Gitlab-Event' missing")
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError(f"gitlab {hook}: body is not a JSON object")
        name = HOOKS.get(hook)
        if hook == "System Hook":
            # System hooks share one header; the body says which event it is.
            name = str(payload.get("object_kind") or payload.get("event_name") or "")
        parser = PARSERS.get(name or "")
        return parser(payload) if parser else []


def _push(payload: Mapping[str, Any], name: str) -> list[Event]:
    where = f"gitlab {name}"
    ref = str(field(payload, "ref", where))
    after = str(field(payload, "after", where))
    before = text(payload, "before")
    commits = payload.get("commits") or []
    if not isinstance(commits, list):
        raise PayloadError(f"{where}: field 'commits' is not a list")
    # GitLab lists at most 20 commits and counts all of them; a shortened list would let a
    # path filter miss a changed file, so its files count as unknown.
    total = payload.get("total_commits_count")
    listed_all = not isinstance(total, int) or total <= len(commits)
    head = next((c for c in commits if isinstance(c, Mapping) and c.get("id") == after), None)
    if head is None:
        head = commits[-1] if commits and isinstance(commits[-1], Mapping) else {}
    tag = ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else ""
    return [
        Event(
            kind="tag" if tag else "push",
            provider="gitlab",
            repo=str(field(payload, "project.path_with_namespace", where)),
            ref=ref,
            branch=ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else "",
            tag=tag,
            # checkout_sha is the commit an annotated tag points at; `after` is the tag object.
            sha=text(payload, "checkout_sha") or after,
            before=before,
            changed_paths=changed_paths(commits) if listed_all else None,
            actor=text(payload, "user_username") or text(payload, "user_name"),
            message=text(payload, "message") or text(head, "message"),
            created=before == ZERO_SHA,
            deleted=after == ZERO_SHA,
            url=text(head, "url") or text(payload, "project.web_url"),
            clone_url=text(payload, "project.git_http_url"),
            raw=dict(payload),
        )
    ]


def _label_titles(labels: Any) -> tuple[str, ...]:
    if not isinstance(labels, list):
        return ()
    return tuple(str(lb["title"]) for lb in labels if isinstance(lb, Mapping) and lb.get("title"))


def _update_action(attrs: Mapping[str, Any], changes: Mapping[str, Any]) -> str:
    if attrs.get("oldrev"):
        return "synchronize"
    draft = changes.get("draft") or changes.get("work_in_progress")
    if isinstance(draft, Mapping) and "current" in draft:
        return "converted_to_draft" if draft["current"] else "ready_for_review"
    labels = changes.get("labels")
    if isinstance(labels, Mapping):
        added = set(_label_titles(labels.get("current"))) - set(
            _label_titles(labels.get("previous"))
        )
        return "labeled" if added else "unlabeled"
    return "edited"


def _merge_request_action(attrs: Mapping[str, Any], changes: Any) -> str:
    action = text(attrs, "action")
    if action == "update":
        return _update_action(attrs, changes if isinstance(changes, Mapping) else {})
    return MR_ACTIONS.get(action, action)


def _pull_request(mr: Mapping[str, Any], number: int, action: str, labels: Any) -> PullRequest:
    return PullRequest(
        number=number,
        action=action,
        base=text(mr, "target_branch"),
        head=text(mr, "source_branch"),
        labels=_label_titles(labels),
        draft=bool(mr.get("draft") or mr.get("work_in_progress")),
        fork=mr.get("source_project_id") != mr.get("target_project_id"),
        merged=mr.get("action") == "merge" or mr.get("state") == "merged",
    )


def _merge_request(payload: Mapping[str, Any]) -> list[Event]:
    where = "gitlab merge_request"
    attrs = mapping(payload, "object_attributes", where)
    number = integer(payload, "object_attributes.iid", where)
    base = str(field(payload, "object_attributes.target_branch", where))
    action = _merge_request_action(attrs, payload.get("changes"))
    labels = payload.get("labels") or attrs.get("labels")
    return [
        Event(
            kind="pull_request",
            provider="gitlab",
            repo=str(field(payload, "project.path_with_namespace", where)),
            ref=f"refs/merge-requests/{number}/head",
            branch=base,
            sha=str(field(payload, "object_attributes.last_commit.id", where)),
            before=text(attrs, "oldrev"),
            actor=text(payload, "user.username"),
            message=text(attrs, "title"),
            pull_request=_pull_request(attrs, number, action, labels),
            url=text(attrs, "url"),
            clone_url=text(payload, "project.git_http_url"),
            raw=dict(payload),
        )
    ]


def _note(payload: Mapping[str, Any]) -> list[Event]:
    where = "gitlab note"
    attrs = mapping(payload, "object_attributes", where)
    if attrs.get("noteable_type") != "MergeRequest":
        return []
    # Only a person's new note is a command: GitLab's own notes ("added 1 commit") and edits
    # of an old note would run it again.
    if attrs.get("system") or (attrs.get("action") or "create") != "create":
        return []
    mr = mapping(payload, "merge_request", where)
    number = integer(payload, "merge_request.iid", where)
    return [
        Event(
            kind="comment",
            provider="gitlab",
            repo=str(field(payload, "project.path_with_namespace", where)),
            ref=f"refs/merge-requests/{number}/head",
            branch=text(mr, "target_branch"),
            sha=text(mr, "last_commit.id"),
            actor=text(payload, "user.username"),
            message=text(mr, "title"),
            pull_request=_pull_request(mr, number, "comment", mr.get("labels")),
            comment=str(field(payload, "object_attributes.note", where)),
            url=text(attrs, "url"),
            clone_url=text(payload, "project.git_http_url"),
            raw=dict(payload),
        )
    ]


PARSERS: dict[str, Callable[[Mapping[str, Any]], list[Event]]] = {
    "push": lambda payload: _push(payload, "push"),
    "tag_push": lambda payload: _push(payload, "tag_push"),
    "merge_request": _merge_request,
    "note": _note,
}
