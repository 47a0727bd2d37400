"""Slack's Web API, as the Slack notifier uses it: chat.postMessage and chat.update.

Features:
- POST {api_url}/{method} with `Authorization: Bearer <bot token>` and a JSON body, sent as
  `application/json; charset=utf-8` (without the charset Slack warns `missing_charset`).
- Slack answers most failures with 200 and {"ok": false, "error": "<code>"}: `ratelimited`
  (which comes as 429 with Retry-After), `internal_error`, `fatal_error`,
  `service_unavailable` and `request_timeout` are TransientErrors; every other code
  (`invalid_auth`, `channel_not_found`, `not_in_channel`, `message_not_found`, ...) is a
  SlackApiError, a PermanentError that keeps the code.
- The token never appears in an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifiers import http
from notifiers.base import PermanentError, TransientError

DEFAULT_API_URL = "https://slack.com/api"
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackApiError(PermanentError):
    """Slack refused a call for good; `code` is Slack's error code."""

    def __init__(self, message: str, code: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code)
        self.code = code


@dataclass(frozen=True)
class Answer:
    """What Slack answered a call that succeeded: the JSON body and the HTTP status."""

    body: dict[str, Any]
    status_code: int


def call(
    api_url: str, token: str, method: str, body: dict[str, Any], *, what: str, timeout: float
) -> Answer:
    """Call Web API `method` with `body`; Slack's answer when it says ok, else raise."""
    headers = {"Authorization": f"Bearer {token}"}
    with http.new_session(headers) as session:
        response = http.request(
            session,
            "POST",
            f"{api_url.rstrip('/')}/{method}",
            json=body,
            timeout=timeout,
            what=f"{what}: {method}",
            secrets=(token,),
        )
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        status = response.status_code
        raise PermanentError(f"{what}: {method} answered {status} without JSON", status)
    if answer.get("ok") is True:
        return Answer(answer, response.status_code)
    code = str(answer.get("error") or "not ok")
    message = http.mask(f"{what}: {method} {response.status_code} {code}", (token,))
    if code in TRANSIENT:
        raise TransientError(message, http.retry_after(response), response.status_code)
    raise SlackApiError(message, code, response.status_code)
