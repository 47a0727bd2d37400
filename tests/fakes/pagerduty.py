"""PagerDuty's Events API v1 on loopback: checks each event against the request schema of
PagerDuty's own OpenAPI description (PagerDuty/api-schema, reference/events-v1), transcribed
below, and answers as PagerDuty does."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.http_double import Expectation, HttpDouble, RecordedRequest

PATH = "/generic/2010-04-15/create_event.json"
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


class PagerDutyDouble(HttpDouble):
    """The events endpoint at `events_url`: `expect_event()`, then read `events()`."""

    @property
    def events_url(self) -> str:
        return self.url + PATH

    def expect_event(
        self,
        *,
        status: int = 200,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
    ) -> Expectation:
        """Answer an event: 200 "Event processed"; 400 "invalid event" with `message`;
        403 (PagerDuty's throttling); 5xx."""

        def answer(request: RecordedRequest) -> dict[str, Any]:
            if status < 300:
                key = request.json.get("incident_key", "a1b2c3")
                return {"status": "success", "message": "Event processed", "incident_key": key}
            return {
                "status": "invalid event" if status == 400 else "error",
                "message": message or "Event object is invalid",
                "errors": ["Service key is the wrong length (should be 32 characters)"],
            }

        return self.expect(
            "POST",
            PATH,
            status=status,
            json=answer,
            headers=headers,
            times=times,
            schema=EVENT_SCHEMA,
            require_headers={"Content-Type": re.compile(r"^application/json")},
            delay=delay,
        )

    def events(self) -> list[dict[str, Any]]:
        return [request.json for request in self.requests_to("POST", PATH)]
