"""Slack: a message per run, by incoming webhook, or posted and then edited with a bot token.

Features:
- Incoming webhook: POST <webhook URL> once the run is done. It cannot edit, so only final
  statuses are posted. Slack's errors are plain-text codes (404 no_team, 400 invalid_payload,
  403 action_prohibited, 410 channel_is_archived): PermanentError with the code; 5xx and 429
  (with Retry-After) are transient.
- Bot token (Web API): chat.postMessage when the run starts, then chat.update of the same
  message (channel and ts from the receipt) when it ends, with only the arguments chat.update
  takes. Every call's body is JSON with `charset=utf-8` declared. Slack's {"ok": false}
  answers are read by notifiers.slack_api (ratelimited and server trouble: transient; others:
  permanent).
  A message deleted since (message_not_found, cant_update_message) is posted anew.
- The message: a plain `text` (what notifications and old clients show) and Block Kit
  `blocks`: status, run name linked to the run's page, duration, repo@sha (branch), pull
  request, and the run's outputs (accuracy, loss, ...) as fields.
- Text from events (branch names, messages, output names) is escaped for Slack's mrkdwn, then
  kept within Slack's limits as sent: 3,000 characters a section, 2,000 a field.
- The webhook URL and the token are credentials: they never appear in an error. A webhook URL
  from a target passes the outbound URL policy (notifiers.urls) and is not redirected.

Config (target keys):
- webhook_url: post to this incoming webhook (overrides the notifier's webhook_url and token).
- channel: the channel a bot token posts to (overrides the notifier's channel).
The notifier itself takes webhook_url, token, channel, api_url (default
https://slack.com/api), allow_private and timeout. With a token it also wants `running`.

Receipt: by bot token, external_id is the message ts and data has channel (Slack's id) and
ts; by webhook, nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from notifiers import editing, http, render, slack_api, urls
from notifiers.base import PermanentError, Receipt, Report, format_duration
from schemas.settings import PluginSettings, SettingsConfigDict, setting
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
# Slack's limits on a section's text and on a field's, in characters as sent, i.e. escaped.
MAX_SECTION, MAX_FIELD = 3000, 2000
# Slack keeps 40,000 characters of a message's text, and advises at most 4,000; the blocks
# carry the detail.
MAX_TEXT = 4000
MAX_NAME, MAX_URL = 300, 1000  # a run's name or an output's, and the link to the run
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# chat.update cannot reach these messages any more; a new one is posted instead.
_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


class SlackSettings(PluginSettings):
    """The `AXON_SLACK_*` variables."""

    model_config = SettingsConfigDict(env_prefix="AXON_SLACK_")
    shared = ("timeout", "allow_private")

    webhook_url: str = setting("", "default Slack incoming webhook", secret=True)
    token: str = setting("", "a bot token: one message per run, updated in place", secret=True)
    channel: str = setting("", "the bot's default channel")


class SlackNotifier(http.UrlTarget):
    """Posts to a Slack incoming webhook, or posts and edits a message with a bot token."""

    name = "slack"
    wants = DONE
    what = "slack webhook"
    missing = "slack: no webhook_url, neither in the target nor in the notifier's settings"

    def __init__(
        self,
        webhook_url: str = "",
        timeout: float = 10,
        token: str = "",
        channel: str = "",
        api_url: str = slack_api.DEFAULT_API_URL,
        allow_private: bool = False,
    ) -> None:
        super().__init__(webhook_url, allow_private, timeout)
        self._token = token
        self.channel = channel
        self.api_url = api_url
        if token:
            self.wants = DONE | {RunStatus.RUNNING}
            self.edits_in_place = True

    def __repr__(self) -> str:
        mode = "token" if self._token else "webhook" if self._url else "unset"
        return f"SlackNotifier({mode})"

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Post (or, with a bot token and a previous receipt, edit) one message."""
        if self._token and not target.get("webhook_url"):
            return self._post_with_token(report, target, previous)
        url, destination = self.url_for(target)
        return self._post_to_webhook(url, report, destination)

    def _post_to_webhook(
        self, url: str, report: Report, destination: urls.Destination | None
    ) -> Receipt:
        if report.status not in DONE:
            return Receipt(self.name, data={"skipped": "a webhook cannot edit: final only"})
        response = self.post_to(url, destination, json=message(report))
        return Receipt(target=self.name, status_code=response.status_code)

    def secrets(self, url: str) -> tuple[str, ...]:
        # The path is the credential; mask its last segment too, in case a target echoes it.
        path = urlsplit(url).path
        return (url, path, path.rsplit("/", 1)[-1])

    def _post_with_token(
        self, report: Report, target: dict[str, Any], previous: Receipt | None
    ) -> Receipt:
        channel = str(target.get("channel") or self.channel)
        if not channel:
            raise PermanentError(
                "slack: no channel, neither in the target nor in the notifier's settings"
            )
        what = f"slack {channel}"
        data = previous.data if previous else {}
        body = {"channel": channel, **message(report), "unfurl_links": False}
        edited, answer = editing.edit_or_post(
            data if data.get("channel") and data.get("ts") else None,
            lambda old: self._update(old, report, what),
            lambda: self._call("chat.postMessage", body, what),
        )
        return self._receipt(answer, data if edited else {})

    def _update(self, data: dict[str, Any], report: Report, what: str) -> slack_api.Answer | None:
        # Only what chat.update takes: postMessage's own arguments (unfurl_links, ...) are not
        # among them.
        edit = {"channel": data["channel"], "ts": data["ts"], **message(report)}
        try:
            return self._call("chat.update", edit, what)
        except slack_api.SlackApiError as exc:
            if exc.code in _GONE:
                return None
            raise

    def _call(self, method: str, body: dict[str, Any], what: str) -> slack_api.Answer:
        return slack_api.call(
            self.api_url, self._token, method, body, what=what, timeout=self.timeout
        )

    def _receipt(self, answer: slack_api.Answer, data: dict[str, Any]) -> Receipt:
        channel = str(answer.body.get("channel") or data.get("channel", ""))
        ts = str(answer.body.get("ts") or data.get("ts", ""))
        data = {"channel": channel, "ts": ts}
        return Receipt(self.name, external_id=ts, data=data, status_code=answer.status_code)


def message(report: Report) -> dict[str, Any]:
    """The webhook body: fallback `text` plus Block Kit `blocks`, each within Slack's limits."""
    emoji = EMOJI.get(report.status, ":information_source:")
    verb = render.verb(report)
    why = render.why(report)
    name = render.run_title(report)
    text = f"{emoji} {_escape(name, MAX_NAME)} {verb}"
    headline = f"{emoji} *{_link(report.url, name)}* {verb}"
    if why:
        text += f": {_escape(why, MAX_TEXT - len(text) - 2)}"
        headline += f"\n>{_escape(why, min(1000, MAX_SECTION - len(headline) - 2))}"
    blocks: list[dict[str, Any]] = [_section(headline)]
    facts = _facts(report)
    if facts:
        blocks.append({"type": "section", "fields": facts})
    if report.outputs:
        blocks.append({**_section("*Outputs*"), "fields": _outputs(report.outputs)})
    if report.best:
        best = report.best.removeprefix("best: ")
        blocks.append(_section(f"*Best:* {_escape(best, MAX_SECTION - 20)}"))
    if report.ops:
        blocks.append(_section(_ops(report)))
    return {"text": text, "blocks": blocks}


def _ops(report: Report) -> str:
    """A pipeline's ops, one line each, as many as one section holds, then how many more."""
    lines = ["*Ops*"]
    for shown, op in enumerate(report.ops):
        emoji = EMOJI.get(op.status, ":information_source:")
        line = f"{emoji} {_link(op.url, op.name)} {render.verb(op)}"
        if op.why and op.status != RunStatus.SUCCEEDED:
            line += f": {_escape(op.why, 200)}"
        if op.outputs:
            outputs = (f"{key} {render.value(value)}" for key, value in op.outputs.items())
            line += f" ({_escape(', '.join(outputs), 300)})"
        more = f"… {len(report.ops) - shown} more ops"
        if sum(len(text) + 1 for text in [*lines, line, more]) > MAX_SECTION:
            return "\n".join([*lines, more])
        lines.append(line)
    return "\n".join(lines)


def _facts(report: Report) -> list[dict[str, str]]:
    facts = [("Status", render.label(report.status))]
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
    return [_field(str(key), render.value(value)) for key, value in items]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _field(label: str, value: str) -> dict[str, str]:
    label = _escape(label, MAX_NAME)
    return {"type": "mrkdwn", "text": f"*{label}*\n{_escape(value, MAX_FIELD - len(label) - 3)}"}


def _link(url: str, label: str) -> str:
    # Slack reads `<url|label>`; a `|` or `>` in our own URL would end it early.
    if not url or len(url) > MAX_URL:
        return _escape(label, MAX_NAME)
    safe_url = url.replace("|", "%7C").replace(">", "%3E")
    return f"<{safe_url}|{_escape(label, MAX_NAME)}>"


def _escape(text: str, limit: int) -> str:
    """`text` escaped for mrkdwn, in at most `limit` characters once escaped.

    Slack counts its limits on the escaped text, which `&`, `<` and `>` make longer; so the
    cut is made on the text, by what each character costs escaped, never inside an entity.
    """
    # Slack's mrkdwn needs exactly these three escaped; `<!channel>` can then not be forged.
    escaped = [_ENTITIES.get(char, char) for char in text]
    if sum(map(len, escaped)) <= limit:
        return "".join(escaped)
    kept, used = [], len("…")
    for piece in escaped:
        if used + len(piece) > limit:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + "…"
