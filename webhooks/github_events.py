"""GitHub's payloads beyond push, and the pieces Gitea shares because it copies their shape.

Shared with Gitea:
`pull_request_event`, `ref_event`, `changed_paths`. GitHub only: `repo_event`, `comment_event`,
`release_event`, `workflow_run_event`, `rerequest_event` (GitHub Packages is in github.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.event import Event, PullRequest
from webhooks.payload import field, integer, mapping, text


def changed_paths(commits: list[Any]) -> tuple[str, ...] | None:
    # A push listing no commits (a new tag, a deletion, a reset) says nothing about files.
    if not commits:
        return None
    paths: dict[str, None] = {}
    for commit in commits:
        if not isinstance(commit, Mapping):
            continue
        for key in ("added", "modified", "removed"):
            for path in commit.get(key) or ():
                paths[str(path)] = None
    return tuple(paths)


def label_names(labels: Any) -> tuple[str, ...]:
    if not isinstance(labels, list):
        return ()
    return tuple(str(lb["name"]) for lb in labels if isinstance(lb, Mapping) and lb.get("name"))


def _is_fork(pr: Mapping[str, Any]) -> bool:
    head_repo, base_repo = pr["head"].get("repo"), pr["base"]["repo"]
    # GitHub nulls the head repository once a fork is deleted; its code is still foreign.
    if not isinstance(head_repo, Mapping):
        return True
    if head_repo.get("id") is not None and base_repo.get("id") is not None:
        return bool(head_repo["id"] != base_repo["id"])
    return head_repo.get("full_name") != base_repo.get("full_name")


def pull_request_event(
    payload: Mapping[str, Any], provider: str, action: str, draft: bool | None = None
) -> Event:
    """A GitHub-shaped `pull_request` delivery. `branch` is the base branch, as in GitHub
    Actions' `pull_request: branches:`; `ref` is the head ref the base repository serves."""
    where = f"{provider} pull_request"
    number = integer(payload, "pull_request.number", where)
    base = str(field(payload, "pull_request.base.ref", where))
    head = str(field(payload, "pull_request.head.ref", where))
    sha = str(field(payload, "pull_request.head.sha", where))
    repo = str(field(payload, "pull_request.base.repo.full_name", where))
    pr = payload["pull_request"]
    return Event(
        kind="pull_request",
        provider=provider,
        repo=repo,
        ref=f"refs/pull/{number}/head",
        branch=base,
        sha=sha,
        before=text(payload, "before"),
        actor=text(payload, "sender.login"),
        message=text(pr, "title"),
        pull_request=PullRequest(
            number=number,
            action=action,
            base=base,
            head=head,
            labels=label_names(pr.get("labels")),
            draft=bool(pr.get("draft")) if draft is None else draft,
            fork=_is_fork(pr),
            merged=bool(pr.get("merged")),
        ),
        url=text(pr, "html_url"),
        clone_url=text(pr, "base.repo.clone_url"),
        raw=dict(payload),
    )


def repo_event(payload: Mapping[str, Any], where: str, kind: str, **fields: Any) -> Event:
    """An Event in the delivery's repository, by its sender; `fields` fill in the rest."""
    values: dict[str, Any] = {
        "actor": text(payload, "sender.login"),
        "clone_url": text(payload, "repository.clone_url"),
        "raw": dict(payload),
        **fields,
    }
    if "repo" not in values:
        values["repo"] = str(field(payload, "repository.full_name", where))
    return Event(kind=kind, provider=where.split(" ")[0], **values)


def ref_event(payload: Mapping[str, Any], provider: str, name: str) -> list[Event]:
    """A `create` or `delete` of a branch or tag (GitHub also once reported repositories)."""
    where = f"{provider} {name}"
    ref_type = str(field(payload, "ref_type", where))
    short = str(field(payload, "ref", where))
    if ref_type not in ("branch", "tag"):
        return []
    prefix = "refs/heads/" if ref_type == "branch" else "refs/tags/"
    short = short.removeprefix(prefix)
    return [
        repo_event(
            payload,
            where,
            name,
            ref=prefix + short,
            branch=short if ref_type == "branch" else "",
            tag=short if ref_type == "tag" else "",
            sha=text(payload, "sha"),
            created=name == "create",
            deleted=name == "delete",
        )
    ]


def comment_event(payload: Mapping[str, Any]) -> list[Event]:
    """A new comment on a pull request. GitHub delivers those as comments on the PR's issue."""
    where = "github issue_comment"
    issue = mapping(payload, "issue", where)
    # Only a new comment is a command: replaying an edited or deleted one would run it twice.
    if not issue.get("pull_request") or payload.get("action") != "created":
        return []
    number = integer(payload, "issue.number", where)
    pull_request = PullRequest(
        number=number,
        action="comment",
        labels=label_names(issue.get("labels")),
        draft=bool(issue.get("draft")),
    )
    return [
        repo_event(
            payload,
            where,
            "comment",
            message=text(issue, "title"),
            pull_request=pull_request,
            comment=str(field(payload, "comment.body", where)),
            author_association=text(payload, "comment.author_association"),
            url=text(payload, "comment.html_url"),
        )
    ]


def release_event(payload: Mapping[str, Any]) -> list[Event]:
    """A release; its action (published, created, prereleased, …) stays in `raw["action"]`."""
    where = "github release"
    tag = str(field(payload, "release.tag_name", where))
    return [
        repo_event(
            payload,
            where,
            "release",
            ref=f"refs/tags/{tag}",
            tag=tag,
            message=text(payload, "release.name"),
            url=text(payload, "release.html_url"),
        )
    ]


def workflow_run_event(payload: Mapping[str, Any]) -> list[Event]:
    """A workflow run; `raw["action"]` and `raw["workflow_run"]["conclusion"]` say how it went."""
    where = "github workflow_run"
    run = mapping(payload, "workflow_run", where)
    branch = text(run, "head_branch")
    return [
        repo_event(
            payload,
            where,
            "workflow_run",
            ref=f"refs/heads/{branch}" if branch else "",
            branch=branch,
            sha=str(field(payload, "workflow_run.head_sha", where)),
            message=text(run, "display_title") or text(run, "head_commit.message"),
            url=text(run, "html_url"),
        )
    ]


def rerequest_event(payload: Mapping[str, Any], name: str) -> list[Event]:
    """Re-run pressed on a check suite or check run; GitHub's other check actions are its own."""
    if payload.get("action") != "rerequested":
        return []
    where = f"github {name}"
    branch = text(payload, f"{name}.head_branch")
    branch = branch or text(payload, f"{name}.check_suite.head_branch")
    return [
        repo_event(
            payload,
            where,
            "rerequest",
            ref=f"refs/heads/{branch}" if branch else "",
            branch=branch,
            sha=str(field(payload, f"{name}.head_sha", where)),
            url=text(payload, f"{name}.html_url"),
        )
    ]
