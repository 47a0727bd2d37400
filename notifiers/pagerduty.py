"""PagerDuty: a failed run triggers an alert; the next success of its operation resolves it.

Features:
- Events API v2 (the default): POST https://events.pagerduty.com/v2/enqueue with routing_key,
  event_action, dedup_key and, to trigger, payload {summary, source, severity "error",
  timestamp, component, group, class, custom_details}, client ("Axon"), client_url and links
  (the run's page). A resolve carries routing_key, event_action and dedup_key only.
- Events API v1, for integrations made for it (`events_api` "v1"): POST
  https://events.pagerduty.com/generic/2010-04-15/create_event.json with service_key,
  event_type, incident_key, description, details, client, client_url and contexts.
- failed, upstream_failed → trigger; succeeded → resolve. The dedup key (v1: incident key) is
  "axon/<project>/<subscription or run name>", computed from each run's operation: a success of
  the same operation resolves the alert its failure opened, and repeated failures add to it.
- The summary (v1: description) keeps to PagerDuty's 1,024 characters, the dedup key to 255.
  The body is strict JSON: a non-finite output (`loss=nan`, the very run that should page) is
  sent as the string "NaN", which PagerDuty takes.
- 5xx and 429 are transient, and so is v1's 403 (its throttling); 400 (an invalid event) is
  permanent with PagerDuty's message and errors.
- The routing key never appears in an error.

Config (target keys):
- routing_key (or service_key): the integration key (overrides the notifier's).
- dedup_key (or incident_key): overrides the dedup key.
The notifier itself takes routing_key, events_api ("v2" or "v1"), url (the events endpoint;
default by version) and timeout.

Receipt: external_id is the dedup key; data has dedup_key and event_action.
"""

from __future__ import annotations

from typing import Any, Literal

from notifiers import http, render
from notifiers.base import Notifier, PermanentError, Receipt, Report
from schemas.settings import PluginSettings, SettingsConfigDict, setting
from schemas.status import RunStatus

EVENTS_URLS = {
    "v2": "https://events.pagerduty.com/v2/enqueue",
    "v1": "https://events.pagerduty.com/generic/2010-04-15/create_event.json",
}
MAX_SUMMARY = 1024  # PagerDuty truncates a longer summary (v1: description)
MAX_DEDUP_KEY = 255
ACTIONS: dict[RunStatus, str] = {
    RunStatus.FAILED: "trigger",
    RunStatus.UPSTREAM_FAILED: "trigger",
    RunStatus.SUCCEEDED: "resolve",
}


class PagerDutySettings(PluginSettings):
    """The `AXON_PAGERDUTY_*` variables."""

    model_config = SettingsConfigDict(env_prefix="AXON_PAGERDUTY_")
    shared = ("timeout",)

    service_key: str = setting("", "the integration's routing key", secret=True)
    events_api: Literal["v2", "v1"] = setting(
        "v2", "`v1` for an integration made for the old Events API"
    )

    def arguments(self) -> dict[str, Any]:
        return {"routing_key": self.service_key, "events_api": self.events_api}


class PagerDutyNotifier(Notifier):
    """Triggers and resolves PagerDuty alerts for an operation's runs."""

    name = "pagerduty"
    wants = frozenset(ACTIONS)

    def __init__(
        self, routing_key: str = "", url: str = "", timeout: float = 10, events_api: str = "v2"
    ):
        if events_api not in EVENTS_URLS:
            raise ValueError(
                f"pagerduty: events_api must be one of {sorted(EVENTS_URLS)}, not {events_api!r}"
            )
        self._routing_key = routing_key
        self.events_api = events_api
        self.url = url or EVENTS_URLS[events_api]
        self.timeout = timeout

    def __repr__(self) -> str:
        key = "set" if self._routing_key else "unset"
        return f"PagerDutyNotifier(events_api={self.events_api!r}, routing_key={key})"

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Send one trigger or resolve event."""
        key = str(target.get("routing_key") or target.get("service_key") or self._routing_key)
        if not key:
            raise PermanentError(
                "pagerduty: no routing_key, neither in the target nor in the notifier's settings"
            )
        action = ACTIONS.get(report.status, "trigger")
        dedup_key = render.clip(
            str(target.get("dedup_key") or target.get("incident_key") or default_key(report)),
            MAX_DEDUP_KEY,
        )
        if self.events_api == "v1":
            body = event_v1(report, key, action, dedup_key)
        else:
            body = event(report, key, action, dedup_key)
        with http.new_session() as session:
            response = http.request(
                session,
                "POST",
                self.url,
                json=body,
                timeout=self.timeout,
                what=f"pagerduty {action} of {dedup_key}",
                secrets=(key,),
                # v1's "Forbidden - too many API calls at a time"; v2 says 429.
                transient=(403,) if self.events_api == "v1" else (),
            )
        data = {"dedup_key": dedup_key, "event_action": action}
        return Receipt(self.name, dedup_key, data, status_code=response.status_code)


def default_key(report: Report) -> str:
    return f"axon/{report.project}/{report.subscription or report.run_name}"


def event(report: Report, routing_key: str, action: str, dedup_key: str) -> dict[str, Any]:
    """One Events API v2 event for `report`."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
    }
    if action != "trigger":
        return body
    body["payload"] = {
        "summary": render.clip(render.headline(report), MAX_SUMMARY),
        "source": report.repo or report.project or "axon",
        "severity": "error",
        "timestamp": render.timestamp(report.finished_at or report.started_at),
        "component": report.subscription or report.run_name,
        "group": report.project,
        "class": f"run {report.status.value}",
        "custom_details": details(report),
    }
    body["payload"] = {key: value for key, value in body["payload"].items() if value}
    body["client"] = "Axon"
    if report.url:
        body["client_url"] = report.url
        body["links"] = [{"href": report.url, "text": "The run in Axon"}]
    return body


def event_v1(report: Report, service_key: str, action: str, incident_key: str) -> dict[str, Any]:
    """One Events API v1 event for `report`, in Polyaxon's shape with each field in its place."""
    body: dict[str, Any] = {
        "service_key": service_key,
        "event_type": action,
        "incident_key": incident_key,
        "description": render.clip(render.headline(report), MAX_SUMMARY),
        "client": "Axon",
        "details": details(report),
    }
    if report.url:
        body["client_url"] = report.url
        body["contexts"] = [{"type": "link", "href": report.url, "text": "The run in Axon"}]
    return body


def details(report: Report) -> dict[str, Any]:
    return {
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
    }
