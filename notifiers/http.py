"""Outbound HTTP for notifiers: one session shape, one reading of answers, one URL-target base."""

from __future__ import annotations

import json as jsonlib
import math
import time
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from notifiers import urls
from notifiers.base import Notifier, PermanentError, TransientError

USER_AGENT = "axon/0.1"
DEFAULT_TIMEOUT = 10.0
# 408 and 429 say "not now"; every other 4xx says "not like this".
_RETRYABLE_4XX = frozenset({408, 429})
_MAX_DETAIL = 300
# Every JSON body says its charset: Slack's Web API warns `missing_charset` without it.
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def encode_json(value: Any) -> bytes:
    """`value` as strict JSON in UTF-8: NaN and ±Infinity become the strings "NaN", "Infinity"
    and "-Infinity".

    Outputs come from the tracking client, which accepts `loss=nan`; bare NaN is not JSON, and
    PagerDuty, Slack and a user's webhook receiver would refuse (or fail to parse) the body.
    """
    return jsonlib.dumps(
        finite(value), allow_nan=False, ensure_ascii=False, separators=(",", ":")
    ).encode()


def finite(value: Any) -> Any:
    """`value` with every non-finite float, however deep, replaced by its name as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else _NON_FINITE[value]
    if isinstance(value, Mapping):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def new_session(headers: Mapping[str, str] | None = None) -> requests.Session:
    """A Session that names Axon in User-Agent; use it as `with new_session(...) as session:`."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers.update(headers or {})
    return session


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    json: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Iterable[str] = (),
    follow_redirects: bool = True,
    accept: Collection[int] = (),
    transient: Collection[int] = (),
) -> requests.Response:
    """Send one request; return its 2xx/3xx response or raise TransientError / PermanentError,
    which carries the answer's `status_code` (the notification log shows it).

    `what` names the call in every message ("github status for octo/repo@1a2b3c4"). No message
    carries the URL, because a Slack webhook's path is its credential; `secrets` are masked in
    `what` and in whatever the target wrote back. `accept` lists error statuses returned to the
    caller (a 404 for a comment deleted since); `transient` adds statuses this target uses for
    "not now" (PagerDuty's 403). With `follow_redirects` off, a redirect is refused: a URL from
    user settings must not be bounced to an address the outbound policy would have refused.
    """
    what = mask(what, secrets)
    if json is not None:
        try:
            data = encode_json(json)
        except (TypeError, ValueError) as exc:  # a value JSON has no word for
            raise PermanentError(f"{what}: the body cannot be written as JSON ({exc})") from None
        headers = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
    # `from None`: the requests exception's text repeats the URL, so it must not travel along.
    try:
        response = session.request(
            method,
            url,
            data=data,
            headers=headers,
            params=params,
            timeout=timeout,
            allow_redirects=follow_redirects,
        )
    except requests.Timeout:
        raise TransientError(f"{what}: no answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        raise TransientError(f"{what}: cannot connect ({type(exc).__name__})") from None
    except requests.RequestException as exc:
        raise PermanentError(f"{what}: request not sent ({type(exc).__name__})") from None
    status = response.status_code
    if status < 300 or status in accept or (status < 400 and follow_redirects):
        return response
    if status < 400:
        raise PermanentError(f"{what}: {status} redirect not followed", status)
    message = mask(f"{what}: {status} {_detail(response)}".rstrip(), secrets)
    retryable = status >= 500 or status in _RETRYABLE_4XX or status in transient
    if retryable or _rate_limited(response):
        raise TransientError(message, retry_after(response), status)
    raise PermanentError(message, status)


def json_object(response: requests.Response) -> dict[str, Any]:
    """The JSON object the target answered, or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(response: requests.Response) -> float | None:
    """Seconds the target asked us to wait, from Retry-After or GitHub's X-RateLimit-Reset."""
    headers = response.headers
    if headers.get("Retry-After"):
        return _parse_retry_after(headers["Retry-After"])
    # GitHub sends X-RateLimit-Reset on every answer; it only means "wait" once nothing remains.
    if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
        try:
            return max(0.0, float(headers["X-RateLimit-Reset"]) - time.time())
        except ValueError:
            return None
    return None


def _rate_limited(response: requests.Response) -> bool:
    # GitHub answers an exhausted primary limit, and often a secondary one, with 403, not 429.
    headers = response.headers
    return response.status_code == 403 and (
        headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in headers
    )


def _parse_retry_after(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # RFC 9110 also allows an HTTP-date
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _detail(response: requests.Response) -> str:
    """The target's own words: a JSON body's `message` (and `errors`) or `error`, else the text."""
    try:
        body = response.json()
    except ValueError:  # requests' JSONDecodeError is one
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, dict):  # GitLab: {"message": {"field": ["is invalid"]}}
        message = "; ".join(f"{key} {_error_text(value)}" for key, value in message.items())
    if isinstance(body, dict) and isinstance(message, str):
        text = message
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            text += ": " + "; ".join(_error_text(error) for error in errors)
    elif isinstance(body, dict) and isinstance(body.get("error"), str):  # Slack, GitLab OAuth
        text = body["error"]
    else:
        text = response.text.strip()
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _error_text(error: Any) -> str:
    # GitHub's 422 lists {resource, field, code} or {message} per error; GitLab lists strings.
    if isinstance(error, dict):
        if isinstance(error.get("message"), str):
            return str(error["message"])
        return " ".join(str(error[key]) for key in ("field", "code") if key in error)
    if isinstance(error, list):
        return ", ".join(str(item) for item in error)
    return str(error)


def url_secrets(url: str) -> tuple[str, ...]:
    """A webhook URL, which is itself a credential, and the parts of it a target might echo."""
    parts = urlsplit(url)
    pieces = [parts.path, parts.query, *parts.path.split("/")]
    # Short pieces ("/", "hooks") name no secret, and masking them would garble every message.
    return (url, parts.password or "", *(piece for piece in pieces if len(piece) >= 8))


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in it replaced by ***, longest first."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class UrlTarget(Notifier):
    """A notifier that POSTs to one URL: the target's (under `url_key`), judged by the outbound
    URL policy, else its own from Axon's settings."""

    url_key: ClassVar[str] = "webhook_url"
    what: ClassVar[str]  # names the target in errors ("discord webhook")
    missing: ClassVar[str]  # the error when neither the target nor the settings give a URL

    def __init__(
        self, url: str = "", allow_private: bool = False, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._url = url
        self.allow_private = allow_private
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url_key}={'set' if self._url else 'unset'})"

    def url_for(self, target: dict[str, Any]) -> tuple[str, urls.Destination | None]:
        """The URL to post to, and the Destination to pin when it is the target's."""
        return urls.choose(
            target.get(self.url_key),
            self._url,
            what=self.what,
            allow_private=self.allow_private,
            missing=self.missing,
        )

    def post_to(
        self,
        url: str,
        destination: urls.Destination | None,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """POST to `url` (from `url_for`), as `request` does. With a `destination` the session
        connects only to the addresses the policy judged; a redirect is never followed, since
        it could lead where the policy would refuse. Errors name the URL's host, never the URL.
        """
        with new_session() as session:
            if destination:
                destination.pin(session)
            return request(
                session,
                "POST",
                url,
                json=json,
                data=data,
                headers=headers,
                params=params,
                timeout=self.timeout,
                what=f"{self.what} at {urlsplit(url).hostname or '?'}",
                secrets=self.secrets(url),
                follow_redirects=False,
            )

    def secrets(self, url: str) -> tuple[str, ...]:
        """Optional. What no error may show: the URL, itself a credential, and its parts."""
        return url_secrets(url)
