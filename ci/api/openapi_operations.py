"""What each API endpoint takes and answers, keyed by its Flask endpoint and method.

ci.api.openapi adds the path, its parameters and the error answers from the app's URL map;
a route under /api/v1 without an entry here fails tests/ci/test_openapi.py.
"""

from __future__ import annotations

from typing import Any

from ci.api.openapi_identity import IDENTITY_OPERATIONS
from ci.api.openapi_profiles import PROFILE_OPERATIONS
from ci.api.openapi_schemas import OBJECT, PAGE, PAGED, Schema, array_of, query_param, ref

Operation = dict[str, Any]


def _json(schema: Schema, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(name: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": ref(name)}}}


def op(
    summary: str,
    status: int,
    answer: Schema | None,
    body: dict[str, Any] | None = None,
    query: list[dict[str, Any]] | None = None,
    media: str = "application/json",
) -> Operation:
    """One operation: its summary, success answer, body and query parameters."""
    if answer is None:
        response: dict[str, Any] = {"description": summary}
    else:
        response = {"description": summary, "content": {media: {"schema": answer}}}
    found: Operation = {"summary": summary, "responses": {str(status): response}}
    if body is not None:
        found["requestBody"] = body
    if query:
        found["parameters"] = query
    return found


def _list(summary: str, name: str, extra: list[dict[str, Any]] | None = None) -> Operation:
    return op(f"{summary} ({PAGE})", 200, array_of(name), query=PAGED + (extra or []))


YAML_OR_JSON = {
    "required": True,
    "content": {
        "application/json": {"schema": OBJECT},
        "application/yaml": {"schema": {"type": "string"}},
    },
}
POLYAXONFILE = {
    "required": True,
    "content": {"application/yaml": {"schema": {"type": "string", "minLength": 1}}},
}
FILE = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
SERIES_NAMES = [
    query_param("name", {"type": "array", "items": {"type": "string"}}, "series to draw"),
    query_param("points", {"type": "integer", "minimum": 2, "maximum": 10000}, "points per series"),
]
RUN_FILTERS = [
    query_param("project", {"type": "string"}, "only this project's runs"),
    query_param("status", {"type": "string"}, "only runs in this status"),
    query_param("query", {"type": "string"}, "Polyaxon's query syntax, e.g. `status:running`"),
    query_param("sort", {"type": "string"}, "fields to sort by, `-` first for descending"),
    query_param("parent", {"type": "string"}, "only the runs this run made"),
]
TRACKED = op("Recorded", 200, ref("Recorded"), body=_body("Tracked"))

OPERATIONS: dict[str, dict[str, Operation]] = {
    "resources.create_project": {
        "post": op("Create a project", 201, ref("Project"), _body("NewProject"))
    },
    "resources.list_projects": {"get": _list("Projects by name", "Project")},
    "resources.show_project": {"get": op("A project", 200, ref("Project"))},
    "resources.create_source": {
        "post": op("Add a webhook source", 201, ref("Source"), _body("NewSource"))
    },
    "resources.list_sources": {"get": _list("A project's webhook sources", "Source")},
    "connections.create": {
        "post": op("Add a connection", 201, ref("Connection"), _body("NewConnection"))
    },
    "connections.list_all": {"get": _list("A project's connections", "Connection")},
    "connections.show": {
        "get": op("A connection, without its secret values", 200, ref("Connection"))
    },
    "connections.change": {
        "patch": op("Change a connection", 200, ref("Connection"), _body("NewConnection"))
    },
    "connections.delete": {"delete": op("Delete a connection", 204, None)},
    "subscriptions.create": {
        "post": op("Add a subscription", 201, ref("Subscription"), _body("SubscriptionDocument"))
    },
    "subscriptions.apply": {
        "put": op(
            "Make the project's subscriptions those of the file",
            200,
            ref("Applied"),
            YAML_OR_JSON,
            [query_param("prune", {"type": "boolean"}, "delete the ones the file no longer lists")],
        )
    },
    "subscriptions.list_all": {"get": _list("A project's subscriptions", "Subscription")},
    "subscriptions.show": {"get": op("A subscription", 200, ref("Subscription"))},
    "subscriptions.replace": {
        "put": op("Replace a subscription", 200, ref("Subscription"), _body("SubscriptionDocument"))
    },
    "subscriptions.delete": {"delete": op("Delete a subscription", 204, None)},
    "subscriptions.pause_or_resume": {
        "post": op("Pause or resume a subscription", 200, ref("Subscription"))
    },
    "subscriptions.schedules": {
        "get": op("A subscription's schedules and slots", 200, {"type": ["object", "array"]})
    },
    "project_runs.create_run": {
        "post": op("Start a run from a polyaxonfile", 201, ref("Run"), _body("NewRun"))
    },
    "project_runs.restart": {"post": op("Restart a run", 201, ref("Run"), _body("Clone", False))},
    "project_runs.copy": {"post": op("Copy a run", 201, ref("Run"), _body("Clone", False))},
    "project_runs.resume": {"post": op("Resume a run", 202, ref("Run"), _body("Clone", False))},
    "runs.list_runs": {"get": _list("Runs, newest first", "RunSummary", RUN_FILTERS)},
    "runs.show_run": {"get": op("A run", 200, ref("Run"))},
    "runs.delete_run": {"delete": op("Delete a done run and its subtree", 204, None)},
    "runs.list_children": {"get": _list("The runs this run made", "RunSummary")},
    "runs.show_logs": {"get": op("The run's logs", 200, {"type": "string"}, media="text/plain")},
    "runs.show_events": {
        "get": op("The backend's events about the run", 200, {"type": "array", "items": OBJECT})
    },
    "runs.stop": {"post": op("Stop a run and its live children", 202, ref("Run"))},
    "approvals.approve": {
        "post": op("Approve a run that waits for it", 202, ref("Run"), _body("Approval", False))
    },
    "artifacts.list_artifacts": {"get": _list("The run's artifacts", "Artifact")},
    "artifacts.download_artifact": {
        "get": op(
            "One artifact",
            200,
            {"type": "string", "format": "binary"},
            media="application/octet-stream",
        )
    },
    "tracking.upload_artifact": {"put": op("Store an artifact", 201, ref("Artifact"), FILE)},
    "tracking.log_outputs": {"post": TRACKED},
    "tracking.log_inputs": {"post": TRACKED},
    "tracking.log_metrics": {"post": TRACKED},
    "tracking.log_system": {"post": TRACKED},
    "tracking.log_tags": {"post": TRACKED},
    "tracking.log_description": {"post": TRACKED},
    "tracking.log_progress": {"post": TRACKED},
    "tracking.log_events": {"post": TRACKED},
    "run_data.show_tracking": {"get": op("What the job reported", 200, ref("Tracking"))},
    "run_data.show_metrics": {"get": op("Metric series", 200, ref("Series"), query=SERIES_NAMES)},
    "run_data.show_system": {"get": op("System series", 200, ref("Series"), query=SERIES_NAMES)},
    "run_data.show_job_events": {
        "get": op(
            f"What the job said happened ({PAGE})", 200, {"type": ["array", "object"]}, query=PAGED
        )
    },
    "notifications.list_notifications": {
        "get": _list("The run's notification log", "Notification")
    },
    "notifications.list_project_notifications": {
        "get": _list("The run's notification log", "Notification")
    },
    "deliveries.list_deliveries": {
        "get": _list(
            "Webhook deliveries, newest first",
            "Delivery",
            [query_param("status", {"type": "string"}, "only deliveries in this status")],
        )
    },
    "deliveries.show_delivery": {
        "get": op("A delivery, its decisions and why", 200, ref("Delivery"))
    },
    "deliveries.redeliver": {"post": op("Process a delivery again", 202, ref("Delivery"))},
    "specs.check": {
        "post": op("Validate and compile a polyaxonfile", 200, ref("Checked"), POLYAXONFILE)
    },
    "specs.schema": {"get": op("The JSON Schema of the polyaxonfile", 200, OBJECT)},
    "openapi.document": {"get": op("This document", 200, OBJECT)},
    **PROFILE_OPERATIONS,
    **IDENTITY_OPERATIONS,
}
