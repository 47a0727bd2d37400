"""A Discord webhook on loopback: checks the message, answers with it (`?wait=true`) or with
Discord's JSON errors."""

from __future__ import annotations

import itertools
import re
import secrets
from http import HTTPStatus
from typing import Any

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest

# Our own subset of Discord's "Execute Webhook" JSON params and their limits.
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["content"],
    "additionalProperties": False,
    "properties": {
        "content": {"type": "string", "minLength": 1, "maxLength": 2000},
        "username": {"type": "string", "minLength": 1, "maxLength": 80},
        "avatar_url": {"type": "string", "pattern": "^https?://"},
        "tts": {"type": "boolean"},
        "embeds": {"type": "array", "maxItems": 10},
        "allowed_mentions": {
            "type": "object",
            "properties": {
                "parse": {"type": "array", "items": {"enum": ["roles", "users", "everyone"]}}
            },
        },
        "flags": {"type": "integer"},
        "thread_name": {"type": "string"},
    },
}


class DiscordDouble(HttpDouble):
    """One channel webhook at `webhook_url`, whose last path segment is its token."""

    def __init__(self) -> None:
        super().__init__()
        self.token = secrets.token_urlsafe(48)
        self.path = f"/api/webhooks/1234567890123456789/{self.token}"
        self._ids = itertools.count(1_100_000_000_000_000_001)

    @property
    def webhook_url(self) -> str:
        return self.url + self.path

    def expect_message(
        self,
        *,
        status: int = 200,
        message: str | None = None,
        code: int = 0,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POSTs to the webhook: 200 with the message created, or Discord's error
        {"message", "code"}: e.g. status=404, message="Unknown Webhook", code=10015;
        status=429 with headers={"Retry-After": "2"}."""
        answer: Any = self._message_object
        if status >= 300:
            answer = {"message": message or HTTPStatus(status).phrase, "code": code}
        return self.expect(
            "POST",
            self.path,
            status=status,
            json=answer,
            headers=headers,
            times=times,
            schema=MESSAGE_SCHEMA,
            require_headers={"Content-Type": re.compile(r"^application/json")},
            delay=delay,
        )

    def messages(self) -> list[dict[str, Any]]:
        return [request.json for request in self.requests_to("POST", self.path)]

    def _message_object(self, request: RecordedRequest) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": "1100000000000000000",
            "content": request.json["content"],
            "author": {
                "id": "1234567890123456789",
                "username": request.json.get("username", ""),
                "bot": True,
            },
            "webhook_id": "1234567890123456789",
        }
