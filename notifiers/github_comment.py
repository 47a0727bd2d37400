"""GitHub pull-request comments: one per pull request and subscription, edited in place.

Features:
- POST /repos/{owner}/{repo}/issues/{number}/comments at the first status reported, then
  PATCH /repos/{owner}/{repo}/issues/comments/{id} for every later status, with the id from
  the previous receipt (when it names the same repository and pull request).
- The comment: status and duration, commit and branch, the outputs table (beside the base
  branch's latest successful run, with deltas and better / worse / within-tolerance verdicts,
  when the report has the comparison), the rule, links to the run and the base run. Event
  and job text is shown in code spans, so it cannot format, link or mention.
- A comment deleted since (404 on the edit) is posted anew.
- A run not on a pull request is not commented on: the receipt says why, no request is sent.
- Auth, GitHub Enterprise, rate limits and errors as notifiers.github_api says.

Config: no target keys. The notifier itself takes api_url, token, app_id, app_private_key,
app_installation_id, timeout.

Receipt: external_id is the comment id; data has comment_id, repo, pull_request, subscription
and url (the comment's html_url). To keep one comment per pull request and subscription across
runs, pass as `previous` the last receipt with the same repo, pull_request and subscription.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import requests

from notifiers import editing, github_api, http, markdown
from notifiers.base import Receipt, Report

# GitHub refuses a longer comment body; counted in UTF-8 bytes, which holds whichever of bytes
# or characters GitHub counts.
MAX_BODY = 65536


class GitHubCommentNotifier(editing.PullRequestMessage, github_api.GitHubTarget):
    """Keeps one comment on the run's pull request up to date."""

    name = "comment"

    def send_to_pull_request(
        self, report: Report, target: dict[str, Any], previous: Receipt | None
    ) -> Receipt:
        """Required. Post the comment, or edit the one `previous` names."""
        owner, repo = github_api.owner_and_repo(report, "pull request comment", needs_sha=False)
        body = {"body": markdown.comment(report, MAX_BODY)}
        number = report.pull_request
        what = f"github comment on {owner}/{repo}#{number}"
        call = partial(self.api.call, owner=owner, repo=repo, json=body, what=what)
        comment_id, response = editing.edit_or_post_rest(
            editing.previous_id(previous, "comment_id", repo=report.repo, pull_request=number),
            lambda old: call("PATCH", path=f"/issues/comments/{old}", accept=editing.GONE),
            lambda: call("POST", path=f"/issues/{number}/comments"),
        )
        return self._receipt(report, response, comment_id)

    def _receipt(self, report: Report, response: requests.Response, comment_id: Any) -> Receipt:
        answer = http.json_object(response)
        data = {
            "comment_id": comment_id,
            "repo": report.repo,
            "pull_request": report.pull_request,
            "subscription": report.subscription,
            "url": answer.get("html_url", ""),
        }
        external_id = str(comment_id or "")
        return Receipt(self.name, external_id, data, status_code=response.status_code)
