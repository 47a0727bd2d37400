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

Config (target keys):
- context: the status's name on the commit; default "axon/<subscription or run name>".
The notifier itself takes api_url (GitHub Enterprise: https://HOST/api/v3), token, timeout.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

import requests

from notifiers import http
from notifiers.base import Notifier, PermanentError, Receipt, Report, format_duration
from schemas.status import DONE, RunStatus

API_VERSION = "2022-11-28"
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


class GitHubNotifier(Notifier):
    """Sets a commit status on the run's repository and sha."""

    name = "github"
    wants: ClassVar[frozenset[RunStatus]] = DONE | {RunStatus.RUNNING}

    def __init__(
        self, api_url: str = "https://api.github.com", token: str = "", timeout: float = 10
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._token = token

    def __repr__(self) -> str:
        return f"GitHubNotifier(api_url={self.api_url!r})"

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Create one commit status; `previous` is not needed, a context replaces."""
        owner, repo = _owner_and_repo(report)
        state = STATES.get(report.status, "pending")
        context = target.get("context") or f"axon/{report.subscription or report.run_name}"
        body = {
            "state": state,
            "target_url": report.url or None,
            "description": describe(report),
            "context": context,
        }
        path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/statuses/{quote(report.sha)}"
        with http.new_session(self._headers()) as session:
            response = http.request(
                session,
                "POST",
                self.api_url + path,
                json=body,
                timeout=self.timeout,
                what=f"github status for {owner}/{repo}@{report.sha[:7]}",
                secrets=(self._token,),
            )
        return Receipt(
            target=self.name,
            external_id=_status_id(response),
            data={"state": state, "context": context},
        )

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers


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
    else:
        text = label
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _owner_and_repo(report: Report) -> tuple[str, str]:
    owner, _, repo = report.repo.partition("/")
    if not owner or not repo or "/" in repo:
        raise PermanentError(
            f"github: run {report.run_name!r} has no repository as 'owner/name' "
            f"(got {report.repo!r}); a commit status needs one"
        )
    if not report.sha:
        raise PermanentError(
            f"github: run {report.run_name!r} has no commit sha; a commit status needs one"
        )
    return owner, repo


def _status_id(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body["id"]) if isinstance(body, dict) and "id" in body else ""
