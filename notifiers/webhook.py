"""A generic webhook: Polyaxon's notification fields as JSON, signed with HMAC-SHA256.

Features:
- POST <url> with a JSON body holding Polyaxon's notification fields: owner (the repository's
  owner), project, uuid, name, status, title, details, finished_at, outputs; and Axon's own:
  event ("run.status"), reason, message, url, started_at, duration, params, repo, sha, ref,
  branch, pull_request, subscription.
- The body is strict JSON in UTF-8: a non-finite output (`loss=nan`) arrives as the string
  "NaN", "Infinity" or "-Infinity", never as a bare NaN that JSON parsers refuse.
- Headers: `X-Axon-Event: run.status`; `X-Axon-Delivery: <run uuid>.<status>` (the same on a
  retry, so receivers can drop duplicates); `X-Axon-Timestamp: <unix seconds>`; and, with a
  secret, `X-Axon-Signature: sha256=<hex HMAC-SHA256 of "<delivery>.<timestamp>.<body>" under
  the secret>`, the scheme Axon's own generic webhook source verifies (so one Axon can trigger
  another). A receiver recomputes it over the raw body, compares in constant time, and refuses
  a timestamp more than a few minutes old (a replay); the delivery id is signed, so a replay
  under another id fails too.
- Any 2xx is success; 3xx is refused (redirects are not followed), 5xx, 408 and 429 (with
  Retry-After) are transient, other 4xx permanent.
- A URL from a target passes the outbound URL policy (notifiers.urls). The URL and the secret
  never appear in an error.

Config (target keys):
- url: where to POST (overrides the notifier's url).
The notifier itself takes url, secret, allow_private and timeout.

Receipt: external_id is the delivery id; data has the answer's status_code.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from notifiers import http, render
from notifiers.base import Receipt, Report
from schemas.settings import PluginSettings, SettingsConfigDict, setting


class WebhookSettings(PluginSettings):
    """`AXON_WEBHOOK_SECRET`."""

    model_config = SettingsConfigDict(env_prefix="AXON_WEBHOOK_")
    shared = ("timeout", "allow_private")

    secret: str = setting("", "signs each body (`X-Axon-Signature`); empty: unsigned", secret=True)


class WebhookNotifier(http.UrlTarget):
    """POSTs a signed JSON notification to a URL."""

    name = "webhook"
    url_key = "url"
    what = "webhook"
    missing = "webhook: no url, neither in the target nor in the settings"

    def __init__(
        self, url: str = "", secret: str = "", allow_private: bool = False, timeout: float = 10
    ) -> None:
        super().__init__(url, allow_private, timeout)
        self._secret = secret

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. POST one notification; every status is a new delivery."""
        url, destination = self.url_for(target)
        body = http.encode_json(payload(report))
        delivery = f"{report.run_uuid}.{report.status.value}"
        headers = {"Content-Type": http.JSON_CONTENT_TYPE, "X-Axon-Event": "run.status"}
        headers["X-Axon-Delivery"] = delivery
        headers.update(sign(body, self._secret, delivery))
        response = self.post_to(url, destination, data=body, headers=headers)
        status = response.status_code
        return Receipt(self.name, delivery, {"status_code": status}, status_code=status)

    def secrets(self, url: str) -> tuple[str, ...]:
        return (*http.url_secrets(url), self._secret)


def sign(body: bytes, secret: str, delivery: str, now: float | None = None) -> dict[str, str]:
    """The timestamp header, and the signature header when there is a secret."""
    timestamp = str(int(time.time() if now is None else now))
    headers = {"X-Axon-Timestamp": timestamp}
    if secret:
        signed = f"{delivery}.{timestamp}.".encode() + body
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        headers["X-Axon-Signature"] = f"sha256={digest}"
    return headers


def payload(report: Report) -> dict[str, Any]:
    """Polyaxon's notification fields, then Axon's."""
    return {
        "owner": report.repo.partition("/")[0],
        "project": report.project,
        "uuid": report.run_uuid,
        "name": report.run_name,
        "status": report.status.value,
        "title": render.headline(report),
        "details": render.details(report),
        "finished_at": render.timestamp(report.finished_at),
        "outputs": report.outputs,
        "event": "run.status",
        "reason": report.reason,
        "message": report.message,
        "url": report.url,
        "started_at": render.timestamp(report.started_at),
        "duration": report.duration,
        "params": report.params,
        "repo": report.repo,
        "sha": report.sha,
        "ref": report.ref,
        "branch": report.branch,
        "pull_request": report.pull_request,
        "subscription": report.subscription,
    }
