"""GitHub commit statuses: each run's status shown on the commit that started it.

Features:
- POST /repos/{owner}/{repo}/statuses/{sha}; any token that can write commit statuses works
  (a fine-grained token or GitHub App with "Commit statuses: write"); no check-run permission.
- Statuses: running → pending; succeeded → success; failed, upstream_failed → failure;
  stopped, skipped → error. Any other status sent explicitly is shown as pending.
- A description of at most 140 characters ("Succeeded in 12s", "Failed: exit code 1").
- Rate limits (403 with X-RateLimit-Remaining: 0, 429, Retry-After) are transient with
  `retry_after`; any other 4xx is permanent and carries GitHub's message.
- Safe to send twice: a status with the same context replaces the one GitHub shows.
- Token or GitHub App installation auth, and GitHub Enterprise, as notifiers.github_api says.

Config (target keys):
- context: the status's name on the commit; default "axon/<subscription or run name>".
The notifier itself takes api_url (GitHub Enterprise: https://HOST/api/v3), token, app_id,
app_private_key, app_installation_id, timeout.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from notifiers import github_api, http
from notifiers.base import Receipt, Report, format_duration
from schemas.status import DONE, RunStatus

MAX_DESCRIPTION = 140  # GitHub answers 422 to a longer description

# GitHub's commit statuses have no "cancelled" or "skipped" state, and reporting a stopped or
# skipped run as success would let a branch protection rule pass on work that never ran.
STATES: dict[RunStatus, str] = {
    RunStatus.RUNNING: "pending",
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failure",
    RunStatus.UPSTREAM_FAILED: "failure",
    RunStatus.STOPPED: "error",
    RunStatus.SKIPPED: "error",
}


class GitHubNotifier(github_api.GitHubTarget):
    """Sets a commit status on the run's repository and sha."""

    name = "github"
    wants = DONE | {RunStatus.RUNNING}
    replaces_in_place = True

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Create one commit status; `previous` is not needed, a context replaces."""
        owner, repo = github_api.owner_and_repo(report, "commit status")
        state = STATES.get(report.status, "pending")
        context = target.get("context") or f"axon/{report.subscription or report.run_name}"
        body = {
            "state": state,
            "target_url": report.url or None,
            "description": describe(report),
            "context": context,
        }
        response = self.api.call(
            "POST",
            owner,
            repo,
            f"/statuses/{quote(report.sha)}",
            json=body,
            what=f"github status for {owner}/{repo}@{report.sha[:7]}",
        )
        status_id = http.json_object(response).get("id")
        return Receipt(
            target=self.name,
            external_id="" if status_id is None else str(status_id),
            data={"state": state, "context": context},
            status_code=response.status_code,
        )


def describe(report: Report) -> str:
    """The status line GitHub shows next to the context, at most 140 characters."""
    label = report.status.value.replace("_", " ").capitalize()
    why = " ".join((report.message or report.reason).split())
    if report.status == RunStatus.SUCCEEDED and report.duration is not None:
        text = f"{label} in {format_duration(report.duration)}"
    elif report.status in DONE and why:
        text = f"{label}: {why}"
    elif report.status in DONE and report.duration is not None:
        text = f"{label} after {format_duration(report.duration)}"
    elif report.progress:
        text = f"{label} · {report.progress}"
    else:
        text = label
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"
