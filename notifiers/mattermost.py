"""Mattermost incoming webhooks: one message per finished run, in Polyaxon's Mattermost shape.

Features:
- POST <webhook URL> with Polyaxon's body: one attachment with `fallback`, `title` (the
  headline, linked to the run by `title_link`), `text` (Polyaxon's details), `color` (Polyaxon's
  status colours), `fields` (the run's outputs, short), `author_name` "Axon" and `author_link`
  the run's page; and `channel` when the target names one.
- `@` in the text is followed by a zero-width space, so text from events cannot mention
  anyone or @channel.
- Mattermost answers `ok`; its errors are JSON {"id", "message", "status_code"}: 4xx
  permanent with the message; 5xx and 429 (Retry-After) transient.
- The webhook URL holds its key: it never appears in an error. A URL from a target passes the
  outbound URL policy (notifiers.urls) and is not redirected.

Config (target keys):
- webhook_url: overrides the notifier's webhook_url.
- channel: the channel to post in, instead of the webhook's own (if the webhook allows it).
The notifier itself takes webhook_url, allow_private and timeout.

Receipt: nothing beyond the target's name (an incoming webhook cannot edit).
"""

from __future__ import annotations

from typing import Any

from notifiers import http, render
from notifiers.base import Receipt, Report
from schemas.settings import PluginSettings

MAX_FIELDS = 20


class MattermostSettings(PluginSettings):
    """No variables of its own: webhook URLs come from report targets, checked by the URL policy."""

    shared = ("timeout", "allow_private")


class MattermostNotifier(http.UrlTarget):
    """Posts a message to a Mattermost incoming webhook."""

    name = "mattermost"
    what = "mattermost webhook"
    missing = "mattermost: no webhook_url, neither in the target nor in the notifier's settings"

    def __init__(
        self, webhook_url: str = "", allow_private: bool = False, timeout: float = 10
    ) -> None:
        super().__init__(webhook_url, allow_private, timeout)

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Post one message."""
        url, destination = self.url_for(target)
        body = message(report)
        if target.get("channel"):
            body["channel"] = str(target["channel"])
        response = self.post_to(url, destination, json=body)
        return Receipt(self.name, status_code=response.status_code)


def message(report: Report) -> dict[str, Any]:
    """Polyaxon's Mattermost body: one attachment."""
    fields = [
        {"short": True, "title": _quiet(str(key)), "value": _quiet(render.value(value))}
        for key, value in list(report.outputs.items())[:MAX_FIELDS]
    ]
    attachment: dict[str, Any] = {
        "fallback": _quiet(render.headline(report)),
        "title": _quiet(render.headline(report)),
        "text": _quiet(render.details(report)),
        "color": render.color(report.status),
        "fields": fields,
        "author_name": "Axon",
    }
    if report.url:
        attachment["title_link"] = attachment["author_link"] = report.url
    return {"attachments": [attachment]}


def _quiet(text: str) -> str:
    # A zero-width space after @ keeps "@channel" or "@someone" from event text from pinging.
    return text.replace("@", "@\u200b")
