"""The shapes of the API's answers and bodies, as JSON Schema for the OpenAPI document.

Each mirrors what ci.api.views (or the blueprint named) builds; tests/ci/test_openapi.py
checks the live answers against them.
"""

from __future__ import annotations

from typing import Any

from ci.connections.records import KINDS as CONNECTION_KINDS
from webhooks.registry import providers

Schema = dict[str, Any]
PAGE = "limit and offset page the list"


def query_param(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGED = [
    query_param("limit", {"type": "integer", "minimum": 1}, "rows to answer, at most 500"),
    query_param("offset", {"type": "integer", "minimum": 0, "maximum": 999999999}, "rows to skip"),
]


def json_operation(
    summary: str, status: int, answer: Schema | None, body: Schema | None = None
) -> Schema:
    """An operation that answers `answer` (None: no body) and takes `body` as JSON."""
    response: Schema = {"description": summary}
    if answer is not None:
        response["content"] = {"application/json": {"schema": answer}}
    found: Schema = {"summary": summary, "responses": {str(status): response}}
    if body is not None:
        found["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return found


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


TEXT: Schema = {"type": "string"}
TIME: Schema = {"type": ["string", "null"], "format": "date-time"}
OBJECT: Schema = {"type": "object"}
ANY: Schema = {}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> Schema:
    return {"type": "array", "items": ref(name)}


PROBLEM = _object(
    {
        "type": TEXT,
        "title": TEXT,
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": TEXT,
        "instance": _nullable("string"),
        "error": _object(
            {"code": {"type": "integer"}, "message": TEXT},
            {"errors": {"type": "array", "items": OBJECT}},
        ),
    },
    {"field": TEXT, "reason": TEXT},
)
PROBLEM["description"] = (
    "An RFC 9457 problem document; `field` and `reason` name the field at fault, and `error` "
    "repeats the message for older clients."
)

PROJECT = _object(
    {"id": {"type": "integer"}, "name": TEXT, "description": TEXT, "created_at": TIME}
)
NEW_PROJECT = _object(
    {"name": {"type": "string", "minLength": 1, "pattern": "^[^/]*\\S[^/]*$"}},
    {"description": TEXT},
)

SOURCE = _object(
    {
        "id": {"type": "integer"},
        "name": TEXT,
        "provider": TEXT,
        "project": TEXT,
        "url": TEXT,
        "allow_legacy_signatures": {"type": "boolean"},
        "connection": _nullable("string"),
        "created_at": TIME,
    }
)


def new_source() -> Schema:
    # Exactly one of `secret` and `connection` (a project connection of kind webhook or
    # secret, whose value `secret` verifies deliveries).
    return _object(
        {
            "name": {"type": "string", "minLength": 1, "pattern": "^[^/]*\\S[^/]*$"},
            "provider": {"enum": sorted(providers.names())},
        },
        {
            "secret": {"type": "string", "minLength": 1, "maxLength": 256},
            "connection": {"type": "string", "minLength": 1},
            "allow_legacy_signatures": {"type": "boolean"},
        },
    )


SUBSCRIPTION = _object(
    {
        "id": {"type": "integer"},
        "name": TEXT,
        "project": TEXT,
        "paused": {"type": "boolean"},
        "spec": OBJECT,
        "created_at": TIME,
    }
)
SUBSCRIPTION_DOCUMENT: Schema = {
    "type": "object",
    "description": "A subscription document (`name`, `on`, and the operation it starts); "
    "see the README's Subscriptions section.",
    "required": ["name"],
    "properties": {"name": TEXT, "on": OBJECT},
}
APPLIED = _object({key: {"type": "array", "items": TEXT} for key in ("created", "updated")})
APPLIED["properties"].update(
    {key: {"type": "array", "items": TEXT} for key in ("unchanged", "deleted")}
)

CONNECTION = _object(
    {
        "id": {"type": "integer"},
        "name": TEXT,
        "kind": TEXT,
        "schema": OBJECT,
        "secret_keys": {"type": "array", "items": TEXT},
        "mount_path": _nullable("string"),
        "env": OBJECT,
        "created_at": TIME,
        "created_by": _nullable("string"),
        "updated_at": TIME,
    }
)
NEW_CONNECTION = _object(
    {"name": TEXT, "kind": {"enum": sorted(CONNECTION_KINDS)}},
    {"schema": OBJECT, "secret": OBJECT, "mount_path": TEXT, "env": OBJECT},
)

CONDITION = _object({"status": TEXT, "reason": ANY, "message": ANY, "at": TIME})
RUN_SUMMARY = _object(
    {
        "uuid": TEXT,
        "name": _nullable("string"),
        "project": TEXT,
        "kind": _nullable("string"),
        "status": TEXT,
        "subscription": _nullable("string"),
        "delivery": _nullable("integer"),
        "runner": _nullable("string"),
        "external_id": _nullable("string"),
        "created_at": TIME,
        "started_at": TIME,
        "finished_at": TIME,
        "url": TEXT,
        "service_url": _nullable("string"),
        "original": _nullable("string"),
        "attempt": {"type": ["integer", "null"]},
        "id": {"type": "integer"},
        "parent": _nullable("string"),
        "params": {"type": ["object", "null"]},
        "metric": {"type": ["object", "null"]},
        "best": {"type": ["object", "null"]},
    },
    {"duration": {"type": ["number", "null"]}, "outputs": ANY, "pending": ANY},
)
RUN = {
    "allOf": [
        ref("RunSummary"),
        _object(
            {
                "conditions": array_of("Condition"),
                "children": {"type": "array", "items": OBJECT},
                "children_count": {"type": "integer"},
                "clones": {"type": "array", "items": OBJECT},
            },
            {"schedule": {"type": ["object", "null"]}},
        ),
    ]
}
NEW_RUN = _object(
    {"content": {"type": ["string", "object"], "description": "the polyaxonfile"}},
    {
        "presets": {"type": "array", "items": {"type": ["string", "object"]}},
        "params": OBJECT,
        "name": TEXT,
        "actor": TEXT,
    },
)
CLONE = _object({}, {"params": OBJECT, "actor": TEXT})
APPROVAL = _object({}, {"by": {"type": "string", "minLength": 1, "maxLength": 200}})

DELIVERY = _object(
    {
        "id": {"type": "integer"},
        "provider": TEXT,
        "source": _nullable("string"),
        "delivery_id": _nullable("string"),
        "event": _nullable("string"),
        "status": TEXT,
        "reason": _nullable("string"),
        "received_at": TIME,
        "processed_at": TIME,
    },
    {"headers": ANY, "decisions": {"type": "array", "items": OBJECT}},
)
NOTIFICATION = _object(
    {
        "target": TEXT,
        "notifier": _nullable("string"),
        "via": _nullable("string"),
        "status": TEXT,
        "state": TEXT,
        "http_status": _nullable("integer"),
        "reason": _nullable("string"),
        "receipt_id": _nullable("string"),
        "at": TIME,
    }
)
ARTIFACT = _object({"path": TEXT, "size": {"type": "integer"}})
CHECKED = _object({"runs": {"type": "array", "items": OBJECT}})
TRACKING = _object({"uuid": TEXT, "inputs": OBJECT, "outputs": OBJECT, "metrics": ANY})
RECORDED = _object({}, {"recorded": ANY, "metrics": OBJECT})
SERIES = {"type": ["object", "array"]}
TRACKED: Schema = {"type": ["object", "array"], "description": "what the job reports"}


def components() -> dict[str, Schema]:
    return {
        "Problem": PROBLEM,
        "Project": PROJECT,
        "NewProject": NEW_PROJECT,
        "Source": SOURCE,
        "NewSource": new_source(),
        "Subscription": SUBSCRIPTION,
        "SubscriptionDocument": SUBSCRIPTION_DOCUMENT,
        "Applied": APPLIED,
        "Connection": CONNECTION,
        "NewConnection": NEW_CONNECTION,
        "Condition": CONDITION,
        "RunSummary": RUN_SUMMARY,
        "Run": RUN,
        "NewRun": NEW_RUN,
        "Clone": CLONE,
        "Approval": APPROVAL,
        "Delivery": DELIVERY,
        "Notification": NOTIFICATION,
        "Artifact": ARTIFACT,
        "Checked": CHECKED,
        "Tracking": TRACKING,
        "Recorded": RECORDED,
        "Series": SERIES,
        "Tracked": TRACKED,
    }
