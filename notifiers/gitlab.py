"""GitLab commit statuses: each run's status shown on the commit (and pipeline) that started it.

Features:
- POST /projects/{id}/statuses/{sha} with a JSON body: state, name, ref, target_url,
  description. GitLab takes at most 255 characters in ref, target_url and description, and
  only an absolute http(s) target_url: the name and description are cut to fit; a longer ref
  or a target_url that is not such a URL is left out, and the status still lands.
- Statuses in GitLab's words: queued, scheduled → pending; running → running; succeeded →
  success; failed, upstream_failed → failed; stopped → canceled; skipped → skipped.
- GitLab answers 400 "Cannot transition status via :run from :running" to a state it already
  shows; that is the retry of a status that landed, so it counts as sent.
- Auth, self-managed GitLab, rate limits and errors as notifiers.gitlab_api says.

Config (target keys):
- name: the status's name on the commit; default "axon/<subscription or run name>".
- project: the project id or path; default the run's repository.
The notifier itself takes api_url, token, timeout.

Receipt: external_id is the status id; data has state and name.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from notifiers import gitlab_api, http, render
from notifiers.base import PermanentError, Receipt, Report
from schemas.status import DONE, RunStatus

MAX_FIELD = 255
STATES: dict[RunStatus, str] = {
    RunStatus.QUEUED: "pending",
    RunStatus.SCHEDULED: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failed",
    RunStatus.UPSTREAM_FAILED: "failed",
    RunStatus.STOPPED: "canceled",
    RunStatus.SKIPPED: "skipped",
}
_ALREADY = "Cannot transition status via"


class GitLabNotifier(gitlab_api.GitLabTarget):
    """Sets a commit status on the run's project and sha."""

    name = "gitlab"
    wants = DONE | {RunStatus.RUNNING}
    replaces_in_place = True

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Set one commit status; a status with the same name replaces the last."""
        project = gitlab_api.project_of(report, target, "commit status")
        if not report.sha:
            raise PermanentError(
                f"gitlab: run {report.run_name!r} has no commit sha; a commit status needs one"
            )
        state = STATES.get(report.status, "pending")
        status_name = target.get("name") or f"axon/{report.subscription or report.run_name}"
        body = status_body(report, state, status_name)
        try:
            response = self.call(
                "POST",
                project,
                f"/statuses/{quote(report.sha, safe='')}",
                json=body,
                what=f"gitlab status for {project}@{report.sha[:7]}",
            )
        except PermanentError as exc:
            if f"400 {_ALREADY}" not in str(exc):
                raise
            data = {"state": state, "name": status_name}
            return Receipt(self.name, data=data, status_code=exc.status_code)
        status_id = http.json_object(response).get("id")
        return Receipt(
            self.name,
            external_id="" if status_id is None else str(status_id),
            data={"state": state, "name": status_name},
            status_code=response.status_code,
        )


def status_body(report: Report, state: str, name: str) -> dict[str, Any]:
    """The status's fields, each within what GitLab takes; one it cannot take is left out."""
    body: dict[str, Any] = {"state": state, "name": render.clip(name, MAX_FIELD)}
    ref = report.branch or report.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    # A cut ref would name a branch that does not exist, for which GitLab opens a pipeline of
    # its own; without a ref, GitLab puts the status on the commit's latest pipeline.
    if ref and len(ref) <= MAX_FIELD:
        body["ref"] = ref
    if _absolute_http(report.url) and len(report.url) <= MAX_FIELD:
        body["target_url"] = report.url
    body["description"] = description(report)
    return body


def _absolute_http(url: str) -> bool:
    # GitLab answers 400 "target_url is blocked" (or "must be a valid URL") to anything else.
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    printable = url.isprintable() and " " not in url
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and printable


def description(report: Report) -> str:
    """`Succeeded in 12s`, `Failed: exit code 1`: at most 255 characters."""
    text = render.verb(report)
    why = render.why(report)
    if why and report.status in DONE:
        text = f"{render.label(report.status)}: {why}"
    return render.clip(text[:1].upper() + text[1:], MAX_FIELD)
