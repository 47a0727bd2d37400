"""Slack incoming webhooks: one message per finished run, with its outputs.

Features:
- POST <webhook URL> with a plain `text` (what notifications and old clients show) and Block
  Kit `blocks`: status, run name linked to the run's page, duration, repo@sha (branch), pull
  request, and the run's outputs (accuracy, loss, ...) as fields.
- Text from events (branch names, messages, output names) is escaped for Slack's mrkdwn.
- Slack answers `ok`; its errors are plain-text codes (404 no_team, 400 invalid_payload, 403
  action_prohibited, 410 channel_is_archived) and become PermanentError with the code; 5xx and
  429 (with Retry-After) are transient.
- The webhook URL is a credential: it never appears in an error.

Config (target keys):
- webhook_url: overrides the notifier's default webhook_url.
The notifier itself takes webhook_url and timeout.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from notifiers import http
from notifiers.base import Notifier, PermanentError, Receipt, Report, format_duration
from schemas.status import DONE, RunStatus

EMOJI: dict[RunStatus, str] = {
    RunStatus.SUCCEEDED: ":white_check_mark:",
    RunStatus.FAILED: ":x:",
    RunStatus.UPSTREAM_FAILED: ":no_entry_sign:",
    RunStatus.STOPPED: ":octagonal_sign:",
    RunStatus.SKIPPED: ":fast_forward:",
    RunStatus.RUNNING: ":arrow_forward:",
}
MAX_FIELDS = 10  # Slack rejects a section with more fields (invalid_blocks)
MAX_VALUE = 200


class SlackNotifier(Notifier):
    """Posts a message to a Slack incoming webhook."""

    name = "slack"
    wants: ClassVar[frozenset[RunStatus]] = DONE

    def __init__(self, webhook_url: str = "", timeout: float = 10) -> None:
        self._webhook_url = webhook_url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SlackNotifier(webhook_url={'set' if self._webhook_url else 'unset'})"

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Post one message; a webhook cannot edit, so `previous` is not used."""
        url = target.get("webhook_url") or self._webhook_url
        if not url:
            raise PermanentError(
                "slack: no webhook_url, neither in the target nor in the notifier's settings"
            )
        parts = urlsplit(url)
        # The path is the credential; mask its last segment too, in case a target echoes it.
        secrets = (url, parts.path, parts.path.rsplit("/", 1)[-1])
        with http.new_session() as session:
            http.request(
                session,
                "POST",
                url,
                json=message(report),
                timeout=self.timeout,
                what=f"slack webhook at {parts.hostname or '?'}",
                secrets=secrets,
            )
        return Receipt(target=self.name)


def message(report: Report) -> dict[str, Any]:
    """The webhook body: fallback `text` plus Block Kit `blocks`."""
    emoji = EMOJI.get(report.status, ":information_source:")
    verb = report.status.value.replace("_", " ")
    if report.duration is not None:
        preposition = "in" if report.status == RunStatus.SUCCEEDED else "after"
        verb += f" {preposition} {format_duration(report.duration)}"
    why = " ".join((report.message or report.reason).split())
    name = f"{report.project}/{report.run_name}"
    text = f"{emoji} {_escape(name)} {verb}"
    headline = f"{emoji} *{_link(report.url, name)}* {verb}"
    if why and report.status != RunStatus.SUCCEEDED:
        text += f": {_escape(why)}"
        headline += f"\n>{_escape(_clip(why, 1000))}"
    blocks: list[dict[str, Any]] = [_section(headline)]
    facts = _facts(report)
    if facts:
        blocks.append({"type": "section", "fields": facts})
    if report.outputs:
        blocks.append({**_section("*Outputs*"), "fields": _outputs(report.outputs)})
    return {"text": text, "blocks": blocks}


def _facts(report: Report) -> list[dict[str, str]]:
    facts = [("Status", report.status.value.replace("_", " "))]
    if report.duration is not None:
        facts.append(("Duration", format_duration(report.duration)))
    if report.repo:
        commit = f"{report.repo}@{report.sha[:7]}" if report.sha else report.repo
        branch = report.branch or report.ref
        facts.append(("Commit", f"{commit} ({branch})" if branch else commit))
    if report.pull_request is not None:
        facts.append(("Pull request", f"#{report.pull_request}"))
    return [_field(label, value) for label, value in facts]


def _outputs(outputs: dict[str, Any]) -> list[dict[str, str]]:
    items = list(outputs.items())
    if len(items) > MAX_FIELDS:
        rest = len(items) - (MAX_FIELDS - 1)
        items = items[: MAX_FIELDS - 1] + [("…", f"{rest} more")]
    return [_field(str(key), _value(value)) for key, value in items]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _clip(str(value), MAX_VALUE)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{_escape(label)}*\n{_escape(value)}"}


def _link(url: str, label: str) -> str:
    # Slack reads `<url|label>`; a `|` or `>` in our own URL would end it early.
    if not url:
        return _escape(label)
    safe_url = url.replace("|", "%7C").replace(">", "%3E")
    return f"<{safe_url}|{_escape(label)}>"


def _escape(text: str) -> str:
    # Slack's mrkdwn needs exactly these three escaped; `<!channel>` can then not be forged.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
