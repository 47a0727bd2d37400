"""A Slack incoming webhook on loopback: answers `ok`, or Slack's plain-text error codes."""

from __future__ import annotations

import re
import secrets
from typing import Any

from werkzeug.wrappers import Response

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest


def _text_object(max_length: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {"enum": ["mrkdwn", "plain_text"]},
            "text": {"type": "string", "minLength": 1, "maxLength": max_length},
        },
    }


# Our own subset of the limits Slack enforces on a message; Slack publishes no schema.
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 40000},
        "blocks": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "minLength": 1},
                    "text": _text_object(3000),
                    "fields": {"type": "array", "maxItems": 10, "items": _text_object(2000)},
                },
            },
        },
    },
}


class SlackDouble(HttpDouble):
    """One incoming webhook: `expect_message()`, point the notifier at `webhook_url`, read
    `messages()`. The webhook path holds a random secret, as Slack's does."""

    def __init__(self) -> None:
        super().__init__()
        self.secret = secrets.token_urlsafe(18)
        self.path = f"/services/T0AXON0001/B0AXON0001/{self.secret}"

    @property
    def webhook_url(self) -> str:
        return self.url + self.path

    def expect_message(
        self,
        times: int | None = 1,
        *,
        status: int = 200,
        body: str = "ok",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POSTs to the webhook with `status` and a plain-text `body`.

        Slack's own failures: status=404, body="no_team" (revoked URL); 400 invalid_payload;
        403 action_prohibited; 410 channel_is_archived; 429 with {"Retry-After": "7"}.
        """
        return self.expect(
            "POST",
            self.path,
            status=status,
            body=body,
            headers=headers,
            times=times,
            schema=MESSAGE_SCHEMA,
            delay=delay,
            require_headers={"Content-Type": re.compile(r"^application/json")},
        )

    def messages(self) -> list[dict[str, Any]]:
        """The JSON bodies posted to the webhook, in order."""
        return [request.json for request in self.requests_to("POST", self.path)]

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until `count` messages arrived; return their bodies."""
        self.wait_for(lambda requests: len(self._posts(requests)) >= count, timeout)
        return self.messages()

    def reject(self, request: RecordedRequest, problems: list[str]) -> Response:
        # Slack names the problem with a code, not the validation detail.
        code = "invalid_blocks" if any("$.blocks" in p for p in problems) else "invalid_payload"
        return Response(code, status=400, content_type="text/plain")

    def _posts(self, requests: list[RecordedRequest]) -> list[RecordedRequest]:
        return [r for r in requests if r.method == "POST" and r.path == self.path]
