"""PagerDuty's Events API on loopback: v2 (/v2/enqueue) by default, or v1; checks each event
against the request schema of PagerDuty's own OpenAPI description (PagerDuty/api-schema,
reference/events-v2 and events-v1), transcribed below with the limits its docs state, and
answers as PagerDuty does."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest

PATHS = {"v2": "/v2/enqueue", "v1": "/generic/2010-04-15/create_event.json"}
PATH = PATHS["v2"]
# PagerDuty's docs (developer.pagerduty.com, Events API v2) limit an event to 512 KB.
MAX_EVENT_BYTES = 512 * 1024
_LINK = {
    "type": "object",
    "required": ["href"],
    "properties": {"href": {"type": "string", "format": "url"}, "text": {"type": "string"}},
}
_IMAGE = {
    "type": "object",
    "required": ["src"],
    "properties": {
        "src": {"type": "string", "format": "url"},
        "href": {"type": "string", "format": "url"},
        "alt": {"type": "string"},
    },
}
_PAYLOAD = {
    "type": "object",
    "required": ["summary", "severity", "source"],
    "properties": {
        # The docs limit the summary to 1024 characters.
        "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
        "timestamp": {"type": "string", "format": "date-time"},
        "severity": {"enum": ["critical", "warning", "error", "info"]},
        "source": {"type": "string", "minLength": 1},
        "component": {"type": "string"},
        "group": {"type": "string"},
        "class": {"type": "string"},
        "custom_details": {"type": "object"},
    },
}
EVENT_V2_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "payload": _PAYLOAD,
        "routing_key": {"type": "string", "minLength": 1},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        # The docs limit the dedup key to 255 characters.
        "dedup_key": {"type": "string", "maxLength": 255},
        "client": {"type": "string"},
        "client_url": {"type": "string", "format": "url"},
        "links": {"type": "array", "items": _LINK},
        "images": {"type": "array", "items": _IMAGE},
    },
    # The docs: a trigger needs its payload; "dedup_key: required unless event_action is
    # trigger".
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]},
    "else": {"required": ["dedup_key"]},
}
_CONTEXT = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["link", "image"]},
        "href": {"type": "string"},
        "src": {"type": "string"},
        "text": {"type": "string"},
        "alt": {"type": "string"},
    },
}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service_key", "event_type"],
    "properties": {
        "service_key": {"type": "string", "minLength": 1},
        "event_type": {"enum": ["trigger", "acknowledge", "resolve"]},
        "incident_key": {"type": "string"},
        # "Required for trigger events"; PagerDuty keeps the first 1024 characters.
        "description": {"type": "string", "maxLength": 1024},
        "details": {"type": "object"},
        "client": {"type": "string"},
        "client_url": {"type": "string"},
        "contexts": {"type": "array", "items": _CONTEXT},
    },
    # "incident_key: required unless the event_type is trigger"; "description: required for
    # trigger events".
    "if": {"properties": {"event_type": {"const": "trigger"}}},
    "then": {"required": ["description"]},
    "else": {"required": ["incident_key"]},
}
SCHEMAS = {"v2": EVENT_V2_SCHEMA, "v1": EVENT_SCHEMA}


class PagerDutyDouble(HttpDouble):
    """The events endpoint at `events_url`: `expect_event()`, then read `events()`."""

    def __init__(self, events_api: str = "v2") -> None:
        super().__init__()
        self.events_api = events_api
        self.path = PATHS[events_api]

    @property
    def events_url(self) -> str:
        return self.url + self.path

    def expect_event(
        self,
        *,
        status: int | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer an event: v2 202 (v1 200) "Event processed"; 400 "invalid event" with
        `message`; 429 (v1: 403, PagerDuty's throttling); 5xx."""
        v2 = self.events_api == "v2"

        def answer(request: RecordedRequest) -> dict[str, Any]:
            if (status or 200) < 300:
                key = request.json.get("dedup_key" if v2 else "incident_key", "a1b2c3")
                return {"status": "success", "message": "Event processed", _key(v2): key}
            return {
                "status": "invalid event" if status == 400 else "error",
                "message": message or "Event object is invalid",
                "errors": ["'routing_key' is invalid" if v2 else "Service key is the wrong length"],
            }

        return self.expect(
            "POST",
            self.path,
            status=status or (202 if v2 else 200),
            json=answer,
            headers=headers,
            times=times,
            schema=SCHEMAS[self.events_api],
            require_headers={"Content-Type": re.compile(r"^application/json")},
            delay=delay,
            max_bytes=MAX_EVENT_BYTES,
        )

    def events(self) -> list[dict[str, Any]]:
        return [request.json for request in self.requests_to("POST", self.path)]


def _key(v2: bool) -> str:
    return "dedup_key" if v2 else "incident_key"
