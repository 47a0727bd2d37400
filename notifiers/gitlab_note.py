"""GitLab merge-request notes: one per merge request and subscription, edited in place.

Features:
- POST /projects/{id}/merge_requests/{iid}/notes at the first status reported, then
  PUT /projects/{id}/merge_requests/{iid}/notes/{note_id} for every later status, with the id
  from the previous receipt (when it names the same project and merge request).
- The note is the same markdown as GitHub's pull-request comment: status, duration, commit,
  the outputs table (beside the base branch's, with deltas and verdicts), the rule, links.
- A note deleted since (404 on the edit) is posted anew.
- A run not on a merge request is not noted: the receipt says why, no request is sent.
- Auth, self-managed GitLab, rate limits and errors as notifiers.gitlab_api says.

Config (target keys):
- project: the project id or path; default the run's repository.
The notifier itself takes api_url, token, timeout.

Receipt: external_id is the note id; data has note_id, project, merge_request, subscription.
To keep one note per merge request and subscription across runs, pass as `previous` the last
receipt with the same project, merge_request and subscription.
"""

from __future__ import annotations

from typing import Any

from notifiers import editing, gitlab_api, markdown
from notifiers.base import Receipt, Report

MAX_BODY = 1_000_000  # GitLab's limit on a note


class GitLabNoteNotifier(editing.PullRequestMessage, gitlab_api.GitLabTarget):
    """Keeps one note on the run's merge request up to date."""

    name = "note"
    pull_request_name = "merge request"

    def send_to_pull_request(
        self, report: Report, target: dict[str, Any], previous: Receipt | None
    ) -> Receipt:
        """Required. Post the note, or edit the one `previous` names."""
        project = gitlab_api.project_of(report, target, "merge request note")
        notes = f"/merge_requests/{report.pull_request}/notes"
        body = {"body": markdown.comment(report, MAX_BODY)}
        what = f"gitlab note on {project}!{report.pull_request}"
        note_id, response = editing.edit_or_post_rest(
            editing.previous_id(
                previous, "note_id", project=project, merge_request=report.pull_request
            ),
            lambda old: self.call(
                "PUT", project, f"{notes}/{old}", json=body, what=what, accept=editing.GONE
            ),
            lambda: self.call("POST", project, notes, json=body, what=what),
        )
        return self._receipt(note_id, project, report, response.status_code)

    def _receipt(self, note_id: Any, project: str, report: Report, status_code: int) -> Receipt:
        data = {
            "note_id": note_id,
            "project": project,
            "merge_request": report.pull_request,
            "subscription": report.subscription,
        }
        return Receipt(self.name, str(note_id or ""), data, status_code=status_code)
