"""A receiver of Axon's generic webhook on loopback: checks the body's shape and the
HMAC-SHA256 signature, as a user's endpoint would."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from werkzeug.datastructures import Headers

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest

# Our own schema of the body: Polyaxon's notification fields are required.
NOTIFICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "owner",
        "project",
        "uuid",
        "name",
        "status",
        "title",
        "details",
        "finished_at",
        "outputs",
    ],
    "properties": {
        "owner": {"type": "string"},
        "project": {"type": "string"},
        "uuid": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "status": {"type": "string", "minLength": 1},
        "title": {"type": "string", "minLength": 1},
        "details": {"type": "string"},
        "finished_at": {
            "type": ["string", "null"],
            "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
        },
        "outputs": {"type": "object"},
        "event": {"const": "run.status"},
    },
}


class WebhookDouble(HttpDouble):
    """An endpoint at `hook_url` holding the shared `secret`: `expect_notification()`, then
    read `notifications()`; `signature_valid(request)` checks one as a receiver would."""

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secrets.token_hex(16) if secret is None else secret
        self.path = "/hooks/axon"

    @property
    def hook_url(self) -> str:
        return self.url + self.path

    def expect_notification(
        self,
        *,
        status: int = 200,
        body: str = "",
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer POSTs to the hook with `status` and a plain-text `body`."""
        rules: dict[str, Any] = {
            "Content-Type": re.compile(r"^application/json"),
            "X-Axon-Timestamp": re.compile(r"^\d+$"),
            "X-Axon-Event": "run.status",
            "X-Axon-Delivery": None,
        }
        if self.secret:
            rules["X-Axon-Signature"] = re.compile(r"^sha256=[0-9a-f]{64}$")
        return self.expect(
            "POST",
            self.path,
            status=status,
            body=body,
            headers=headers,
            times=times,
            schema=NOTIFICATION_SCHEMA,
            require_headers=rules,
            delay=delay,
        )

    def notifications(self) -> list[dict[str, Any]]:
        """The bodies received at the hook, in order."""
        return [request.json for request in self.requests_to("POST", self.path)]

    def signature_valid(self, request: RecordedRequest) -> bool:
        """What a receiver does: recompute the HMAC over "<delivery>.<timestamp>.<raw body>"."""
        return verify(request.headers, request.body, self.secret)


def verify(headers: Headers, body: bytes, secret: str) -> bool:
    timestamp = headers.get("X-Axon-Timestamp", "")
    delivery = headers.get("X-Axon-Delivery", "")
    signed = f"{delivery}.{timestamp}.".encode() + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Axon-Signature", ""))
