"""Discord webhooks: one message per finished run, in Polyaxon's Discord shape.

Features:
- POST <webhook URL>?wait=true with Polyaxon's body: `content` (the headline, then Polyaxon's
  details: run, status, reason, message, transition time, duration, outputs, link; at most
  Discord's 2000 characters), `username` ("Axon"), `tts` false, `avatar_url` when set; and
  `allowed_mentions: {"parse": []}`, so text from events cannot ping @everyone or anyone.
- `wait=true` makes Discord answer with the message, whose id goes in the receipt.
- Discord's errors are JSON {"message", "code"} ("Unknown Webhook", 10015): 4xx permanent with
  that message; 5xx and 429 (Retry-After) transient.
- The webhook URL holds its token: it never appears in an error. A URL from a target passes
  the outbound URL policy (notifiers.urls) and is not redirected.

Config (target keys):
- webhook_url: overrides the notifier's webhook_url.
The notifier itself takes webhook_url, username, avatar_url, allow_private and timeout.

Receipt: external_id is the message id; data has message_id and channel_id.
"""

from __future__ import annotations

from typing import Any

from notifiers import http, render
from notifiers.base import Receipt, Report
from schemas.settings import PluginSettings

MAX_CONTENT = 2000  # Discord refuses longer content (50035 Invalid Form Body)


class DiscordSettings(PluginSettings):
    """No variables of its own: webhook URLs come from report targets, checked by the URL policy."""

    shared = ("timeout", "allow_private")


class DiscordNotifier(http.UrlTarget):
    """Posts a message to a Discord channel's webhook."""

    name = "discord"
    what = "discord webhook"
    missing = "discord: no webhook_url, neither in the target nor in the notifier's settings"

    def __init__(
        self,
        webhook_url: str = "",
        username: str = "Axon",
        avatar_url: str = "",
        allow_private: bool = False,
        timeout: float = 10,
    ) -> None:
        super().__init__(webhook_url, allow_private, timeout)
        self.username = username
        self.avatar_url = avatar_url

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Post one message."""
        url, destination = self.url_for(target)
        response = self.post_to(
            url, destination, json=self.message(report), params={"wait": "true"}
        )
        answer = http.json_object(response)
        message_id = str(answer.get("id", ""))
        data = {"message_id": message_id, "channel_id": str(answer.get("channel_id", ""))}
        return Receipt(self.name, message_id, data, status_code=response.status_code)

    def message(self, report: Report) -> dict[str, Any]:
        """Polyaxon's Discord body, with mentions switched off."""
        emoji = render.EMOJI.get(report.status, "ℹ️")
        content = f"{emoji} {render.headline(report)}\n{render.details(report)}"
        body: dict[str, Any] = {
            "content": render.clip(content, MAX_CONTENT),
            "username": self.username,
            "tts": False,
            "allowed_mentions": {"parse": []},
        }
        if self.avatar_url:
            body["avatar_url"] = self.avatar_url
        return body
