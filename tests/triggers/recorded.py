"""Events for trigger tests, parsed from recorded deliveries by the providers themselves."""

from __future__ import annotations

import dataclasses
from typing import Any

from schemas.event import Event
from tests.conftest import fixture_bytes, github_headers
from tests.webhooks.conftest import gitlab_headers
from webhooks.github import GitHubProvider
from webhooks.gitlab import GitLabProvider
from webhooks.harbor import HarborProvider

# Recorded GitHub delivery → the X-GitHub-Event it came with.
GITHUB_EVENTS = {
    "pull_request_opened": "pull_request",
    "pull_request_synchronize": "pull_request",
    "pull_request_labeled": "pull_request",
    "pull_request_closed_merged_fork": "pull_request",
    "pull_request_closed_unmerged": "pull_request",
    "issue_comment_created_on_pr": "issue_comment",
    "release_published": "release",
    "registry_package_published_docker": "registry_package",
    "workflow_run_completed": "workflow_run",
    "check_run_rerequested": "check_run",
    "create_tag": "create",
    "push_branch_commits": "push",
    "push_tag_created": "push",
}
GITLAB_HOOKS = {
    "merge_request_open": "Merge Request Hook",
    "merge_request_merge": "Merge Request Hook",
    "note_merge_request": "Note Hook",
    "push": "Push Hook",
}


def github_event(name: str, **changes: Any) -> Event:
    """The one Event of a recorded GitHub delivery, with `changes` applied."""
    body = fixture_bytes(f"webhooks/github/{name}.json")
    [event] = GitHubProvider().parse(github_headers(GITHUB_EVENTS[name], body, None), body)
    return dataclasses.replace(event, **changes)


def gitlab_event(name: str, **changes: Any) -> Event:
    body = fixture_bytes(f"webhooks/gitlab/{name}.json")
    [event] = GitLabProvider().parse(gitlab_headers(GITLAB_HOOKS[name]), body)
    return dataclasses.replace(event, **changes)


def harbor_event(name: str) -> Event:
    body = fixture_bytes(f"webhooks/registry/{name}.json")
    [event] = HarborProvider().parse({"Content-Type": "application/json"}, body)
    return event


def pull_request(name: str = "pull_request_opened", **changes: Any) -> Event:
    """A recorded pull request event with some of its PullRequest's fields changed."""
    event = github_event(name)
    assert event.pull_request is not None
    return dataclasses.replace(
        event, pull_request=dataclasses.replace(event.pull_request, **changes)
    )


def comment(body: str, association: str = "OWNER", **changes: Any) -> Event:
    """The recorded pull request comment, saying `body`."""
    return github_event(
        "issue_comment_created_on_pr", comment=body, author_association=association, **changes
    )
