"""A Mattermost incoming webhook on loopback: checks the attachment, answers `ok` or
Mattermost's JSON errors."""

from __future__ import annotations

import re
import secrets
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Response

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest

# Our own subset of Mattermost's message attachments (Slack's legacy attachment shape).
MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "channel": {"type": "string", "minLength": 1},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["fallback"],
                "properties": {
                    "fallback": {"type": "string", "minLength": 1},
                    "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                    "title": {"type": "string"},
                    "title_link": {"type": "string"},
                    "text": {"type": "string"},
                    "author_name": {"type": "string"},
                    "author_link": {"type": "string"},
                    "fields": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["title", "value"],
                            "properties": {"short": {"type": "boolean"}},
                        },
                    },
                },
            },
        },
    },
    "anyOf": [{"required": ["text"]}, {"required": ["attachments"]}],
}


class MattermostDouble(HttpDouble):
    """One incoming webhook at `webhook_url`; its last path segment is its key."""

    def __init__(self) -> None:
        super().__init__()
        self.key = secrets.token_hex(13)
        self.path = f"/hooks/{self.key}"

    @property
    def webhook_url(self) -> str:
        return self.url + self.path

    def expect_message(
        self,
        *,
        status: int = 200,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POSTs to the webhook with `ok`, or Mattermost's error JSON with `message`."""
        answer: dict[str, Any] = {}
        if status >= 300:
            answer = {
                "id": "web.incoming_webhook.error",
                "message": message or HTTPStatus(status).phrase,
                "detailed_error": "",
                "request_id": "axon0000000000000000000000",
                "status_code": status,
            }
        return self.expect(
            "POST",
            self.path,
            status=status,
            json=answer or None,
            body="ok",
            headers=headers,
            times=times,
            schema=MESSAGE_SCHEMA,
            require_headers={"Content-Type": re.compile(r"^application/json")},
            delay=delay,
        )

    def messages(self) -> list[dict[str, Any]]:
        return [request.json for request in self.requests_to("POST", self.path)]

    def reject(self, request: RecordedRequest, problems: list[str]) -> Response:
        return Response(
            '{"id": "web.incoming_webhook.parse.app_error", "message": "Unable to parse '
            'incoming data.", "status_code": 400}',
            status=400,
            content_type="application/json",
        )
