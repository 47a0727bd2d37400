"""Slack's Web API on loopback: chat.postMessage and chat.update, answering as Slack does
(200 with {"ok": true, ...} or {"ok": false, "error": "<code>"})."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any

from werkzeug.wrappers import Response

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest
from tests.fakes.slack import MESSAGE_SCHEMA

CHANNEL_ID = "C0AXON0001"
POST_PATH = "/api/chat.postMessage"
UPDATE_PATH = "/api/chat.update"

# The arguments each method takes, from its page at docs.slack.dev/reference/methods; Slack
# ignores or refuses others, so the double refuses them: an edit cannot carry postMessage's.
POST_ARGUMENTS = (
    "channel as_user attachments blocks icon_emoji icon_url link_names markdown_text metadata "
    "mrkdwn parse reply_broadcast text thread_ts unfurl_links unfurl_media username"
).split()
UPDATE_ARGUMENTS = (
    "channel ts as_user attachments blocks file_ids link_names markdown_text metadata parse "
    "reply_broadcast text"
).split()

# Our own subset of what Slack checks (it publishes no schema): a message needs a channel and
# text or blocks; an update names the message by the channel's id (not its name) and its ts.
POST_SCHEMA: dict[str, Any] = {
    **MESSAGE_SCHEMA,
    "required": ["channel", "text"],
    "properties": {
        **{name: {} for name in POST_ARGUMENTS},
        **MESSAGE_SCHEMA["properties"],
        "channel": {"type": "string", "minLength": 1},
        "unfurl_links": {"type": "boolean"},
    },
    "additionalProperties": False,
}
UPDATE_SCHEMA: dict[str, Any] = {
    **MESSAGE_SCHEMA,
    "required": ["channel", "ts", "text"],
    "properties": {
        **{name: {} for name in UPDATE_ARGUMENTS},
        **MESSAGE_SCHEMA["properties"],
        "channel": {"type": "string", "pattern": "^[CDG][A-Z0-9]{8,}$"},
        "ts": {"type": "string", "pattern": r"^\d+\.\d{6}$"},
    },
    "additionalProperties": False,
}
# Slack's Web API asks for the charset on a JSON body, and warns `missing_charset` without it.
JSON_UTF8 = re.compile(r"^application/json; *charset=utf-8$", re.IGNORECASE)


class SlackApiDouble(HttpDouble):
    """Slack's Web API at `api_url` for one bot `token`: `expect_post()`, `expect_update()`,
    then read `calls()`."""

    def __init__(self) -> None:
        super().__init__()
        self.token = "xoxb-" + secrets.token_hex(12)
        self._ts = itertools.count(1)
        self._answered_ok: list[tuple[str, dict[str, Any]]] = []

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    def expect_post(
        self,
        *,
        error: str = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer chat.postMessage: ok with channel and ts, or {"ok": false, "error"}.

        Slack's failures: error="channel_not_found" (or not_in_channel, invalid_auth);
        status=429, error="ratelimited", headers={"Retry-After": "3"}."""
        return self._expect(POST_PATH, POST_SCHEMA, error, status, headers, times, delay)

    def expect_update(
        self,
        *,
        error: str = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer chat.update: ok with the same channel and ts, or {"ok": false, "error"}
        (message_not_found for a deleted message)."""
        return self._expect(UPDATE_PATH, UPDATE_SCHEMA, error, status, headers, times, delay)

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """(method name, body) of every call Slack answered ok, in order."""
        return list(self._answered_ok)

    def reject(self, request: RecordedRequest, problems: list[str]) -> Response:
        # Slack names a malformed call with a code, and still answers 200.
        body = '{"ok": false, "error": "invalid_arguments"}'
        return Response(body, status=200, content_type="application/json")

    def _expect(
        self,
        path: str,
        schema: dict[str, Any],
        error: str,
        status: int,
        headers: dict[str, str] | None,
        times: int | None,
        delay: float,
    ) -> Expectation:
        def answer(request: RecordedRequest) -> dict[str, Any]:
            if error:
                return {"ok": False, "error": error}
            body = request.json
            self._answered_ok.append((path.rsplit("/", 1)[-1], body))
            ts = body.get("ts") or f"{int(time.time())}.{next(self._ts):06d}"
            return {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message": {"text": body["text"]}}

        return self.expect(
            "POST",
            path,
            status=status,
            json=answer,
            headers=headers,
            times=times,
            schema=schema,
            delay=delay,
            require_headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": JSON_UTF8,
            },
        )
