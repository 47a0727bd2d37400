"""GitHub check runs: one per run, created when it is queued and updated in place to the end.

Features:
- POST /repos/{owner}/{repo}/check-runs at the first status reported (normally `queued`);
  PATCH /repos/{owner}/{repo}/check-runs/{id} for every later one, with the receipt's id.
- Statuses: queued → queued; running → in_progress with started_at; a final status →
  completed with completed_at and a conclusion: succeeded → success (failure when the outputs
  break the subscription's rule against the base branch, `Report.regression`); failed,
  upstream_failed → failure; stopped → cancelled; skipped → skipped.
- output.title ("Succeeded in 12s") and output.summary in markdown: status, duration, commit,
  the outputs table (beside the base branch's, with deltas and verdicts, when compared), the
  rule, links; details_url is the run's page, external_id the run's uuid. The summary keeps
  to GitHub's 65,535 bytes (UTF-8, not characters): a table too long for it keeps its first
  rows whole and says how many more there are.
- A check run that GitHub no longer knows (404), or a status after completion (a resumed run),
  gets a new check run rather than an edit of the finished one.
- Check runs can only be written by a GitHub App: with any other token GitHub answers 403.
- Auth, GitHub Enterprise, rate limits and errors as notifiers.github_api says.

Config (target keys):
- name: the check's name; default "axon/<subscription or run name>".
The notifier itself takes api_url, token, app_id, app_private_key, app_installation_id, timeout.

Receipt: external_id is the check run id; data has check_run_id, name, head_sha, status and
conclusion (None until completed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from notifiers import editing, github_api, markdown, render
from notifiers.base import Receipt, Report
from schemas.status import DONE, RunStatus

# GitHub's limit on output.summary and output.text. The spec says characters, but GitHub counts
# UTF-8 bytes: a summary of 65,535 characters with emoji in it is refused with 422.
MAX_TEXT = 65535
CONCLUSIONS: dict[RunStatus, str] = {
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failure",
    RunStatus.UPSTREAM_FAILED: "failure",
    # "cancelled", not "failure": a stop is a person's decision, not a broken change.
    RunStatus.STOPPED: "cancelled",
    RunStatus.SKIPPED: "skipped",
}
_WAITING = frozenset(
    {RunStatus.CREATED, RunStatus.COMPILED, RunStatus.QUEUED, RunStatus.ON_SCHEDULE}
)


class GitHubChecksNotifier(github_api.GitHubTarget):
    """Keeps one check run per Axon run on the run's commit, from queued to its conclusion."""

    name = "checks"
    wants = DONE | {RunStatus.QUEUED, RunStatus.RUNNING}
    edits_in_place = True

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Create the check run, or update the one `previous` names."""
        owner, repo = github_api.owner_and_repo(report, "check run")
        name = target.get("name") or f"axon/{report.subscription or report.run_name}"
        body = check_run(report, name)
        what = f"github check run for {owner}/{repo}@{report.sha[:7]}"
        call = partial(self.api.call, owner=owner, repo=repo, what=what)
        check_run_id, response = editing.edit_or_post_rest(
            _editable(previous, report),
            lambda old: call("PATCH", path=f"/check-runs/{old}", json=body, accept=editing.GONE),
            lambda: call("POST", path="/check-runs", json={**body, "head_sha": report.sha}),
        )
        return self._receipt(check_run_id, body, report, response.status_code)

    def _receipt(
        self, check_run_id: Any, body: dict[str, Any], report: Report, status_code: int
    ) -> Receipt:
        data = {
            "check_run_id": check_run_id,
            "name": body["name"],
            "head_sha": report.sha,
            "status": body["status"],
            "conclusion": body.get("conclusion"),
        }
        external_id = str(check_run_id or "")
        return Receipt(self.name, external_id, data, status_code=status_code)


def check_run(report: Report, name: str) -> dict[str, Any]:
    """The body of a create or an update, for `report`'s status."""
    title = markdown.title(report)
    if report.regression and report.status == RunStatus.SUCCEEDED:
        title = render.clip(f"{title}, but {render.one_line(report.regression)}", 200)
    body: dict[str, Any] = {
        "name": name,
        "external_id": report.run_uuid,
        "status": status_of(report.status),
        "output": {"title": title, "summary": markdown.body(report, MAX_TEXT)},
    }
    if report.url:
        body["details_url"] = report.url
    if report.started_at and body["status"] != "queued":
        body["started_at"] = render.timestamp(report.started_at)
    if body["status"] == "completed":
        body["conclusion"] = conclusion(report)
        body["completed_at"] = render.timestamp(report.finished_at or datetime.now(UTC))
    return body


def status_of(status: RunStatus) -> str:
    if status in DONE:
        return "completed"
    return "queued" if status in _WAITING else "in_progress"


def conclusion(report: Report) -> str:
    found = CONCLUSIONS.get(report.status, "neutral")
    return "failure" if found == "success" and report.regression else found


def _editable(previous: Receipt | None, report: Report) -> Any:
    """The check run `previous` created for this commit, unless it is completed already."""
    if previous is not None and previous.data.get("status") == "completed":
        return None
    return editing.previous_id(previous, "check_run_id", head_sha=report.sha)
