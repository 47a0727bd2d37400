"""PagerDuty: a failed run triggers an incident; the next success of its operation resolves it.

Features:
- Polyaxon's shape, PagerDuty's Events API v1: POST
  https://events.pagerduty.com/generic/2010-04-15/create_event.json with service_key,
  event_type, incident_key, description, details, client ("Axon"), client_url (the run's
  page) and contexts (a link to the run). Polyaxon swaps event_type and incident_key; here
  each field holds what PagerDuty's schema says.
- failed, upstream_failed → event_type "trigger"; succeeded → "resolve". The incident_key is
  "axon/<project>/<subscription or run name>", so a success of the same operation resolves
  the incident its failure opened, and repeated failures add to one incident.
- PagerDuty answers 403 when it throttles: that is transient, like 5xx and 429; 400 (an
  invalid event) is permanent with PagerDuty's message and errors.
- The service key never appears in an error.

Config (target keys):
- service_key: the integration key of a "Generic API" service (overrides the notifier's).
- incident_key: overrides the incident key.
The notifier itself takes service_key, url (the events endpoint) and timeout.

Receipt: external_id is the incident key; data has incident_key and event_type.
"""

from __future__ import annotations

from typing import Any

from notifiers import http, render
from notifiers.base import Notifier, PermanentError, Receipt, Report
from schemas.status import RunStatus

EVENTS_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"
MAX_DESCRIPTION = 1024  # PagerDuty truncates a longer description
EVENT_TYPES: dict[RunStatus, str] = {
    RunStatus.FAILED: "trigger",
    RunStatus.UPSTREAM_FAILED: "trigger",
    RunStatus.SUCCEEDED: "resolve",
}


class PagerDutyNotifier(Notifier):
    """Triggers and resolves PagerDuty incidents for an operation's runs."""

    name = "pagerduty"
    wants = frozenset(EVENT_TYPES)

    def __init__(self, service_key: str = "", url: str = EVENTS_URL, timeout: float = 10):
        self._service_key = service_key
        self.url = url or EVENTS_URL
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(service_key={'set' if self._service_key else 'unset'})"

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Send one trigger or resolve event."""
        service_key = str(target.get("service_key") or self._service_key)
        if not service_key:
            raise PermanentError(
                "pagerduty: no service_key, neither in the target nor in the notifier's settings"
            )
        body = event(report, service_key, target.get("incident_key"))
        with http.new_session() as session:
            http.request(
                session,
                "POST",
                self.url,
                json=body,
                timeout=self.timeout,
                what=f"pagerduty {body['event_type']} of {body['incident_key']}",
                secrets=(service_key,),
                transient=(403,),  # PagerDuty: "Forbidden - too many API calls at a time"
            )
        data = {"incident_key": body["incident_key"], "event_type": body["event_type"]}
        return Receipt(self.name, external_id=body["incident_key"], data=data)


def event(report: Report, service_key: str, incident_key: Any = None) -> dict[str, Any]:
    """One Events API v1 event for `report`."""
    operation = report.subscription or report.run_name
    body: dict[str, Any] = {
        "service_key": service_key,
        "event_type": EVENT_TYPES.get(report.status, "trigger"),
        "incident_key": str(incident_key or f"axon/{report.project}/{operation}"),
        "description": render.clip(render.headline(report), MAX_DESCRIPTION),
        "client": "Axon",
        "details": {
            "run": report.run_name,
            "uuid": report.run_uuid,
            "status": report.status.value,
            "reason": report.reason,
            "message": report.message,
            "outputs": report.outputs,
            "repo": report.repo,
            "sha": report.sha,
            "branch": report.branch,
            "details": render.details(report),
        },
    }
    if report.url:
        body["client_url"] = report.url
        body["contexts"] = [{"type": "link", "href": report.url, "text": "The run in Axon"}]
    return body
