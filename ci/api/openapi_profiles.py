"""What the run profile and quota endpoints (ci.api.presets, ci.api.quotas) take and answer,
for the OpenAPI document (ci.api.openapi_operations gathers them)."""

from __future__ import annotations

from ci.api.openapi_schemas import PAGED, Schema
from ci.api.openapi_schemas import json_operation as _op

WHEN: Schema = {"type": ["string", "null"]}
INHERITED: Schema = {
    "name": "inherited",
    "in": "query",
    "required": False,
    "description": "true: every preset the project's runs may name, its org's included",
    "schema": {"enum": ["true", "false"]},
}
PRESET: Schema = {
    "type": "object",
    "required": ["name", "default", "preset"],
    "properties": {
        "name": {"type": "string"},
        "default": {"type": "boolean", "description": "merged into every run of the project"},
        "preset": {"type": "object", "description": "a partial Polyaxon operation"},
        "scope": {"enum": ["org", "project"], "description": "whose preset it is"},
        "created_at": WHEN,
        "updated_at": WHEN,
    },
}
NEW_PRESET: Schema = {
    "type": "object",
    "required": ["preset"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "preset": {"type": ["object", "string"], "description": "a mapping or YAML text"},
        "default": {"type": "boolean"},
    },
    "additionalProperties": False,
}
QUEUE: Schema = {
    "type": "object",
    "required": ["name", "priority"],
    "properties": {"name": {"type": "string"}, "priority": {"type": "integer"}},
}
AMOUNT: Schema = {
    "type": ["integer", "number", "string", "null"],
    "description": "e.g. 4, 500m, 16Gi",
}
LIMITS: Schema = {
    "type": "object",
    "properties": {name: AMOUNT for name in ("runs", "cpu", "memory", "gpu")},
    "additionalProperties": False,
}
NUMBERS: Schema = {
    "type": "object",
    "properties": {
        "runs": {"type": ["integer", "null"]},
        "cpu": {"type": ["number", "null"], "description": "cores"},
        "memory": {"type": ["integer", "null"], "description": "bytes"},
        "gpu": {"type": ["integer", "null"]},
    },
}
SCOPE: Schema = {
    "type": "object",
    "required": ["kind", "name"],
    "properties": {"kind": {"enum": ["org", "team", "project"]}, "name": {"type": "string"}},
}
QUOTA: Schema = {
    "type": "object",
    "required": ["scope"],
    "properties": {"scope": SCOPE, **NUMBERS["properties"]},
}
PROJECT_QUOTAS: Schema = {
    "type": "object",
    "required": ["project", "usage", "quotas"],
    "properties": {
        "project": {"type": "string"},
        "usage": NUMBERS,
        "quotas": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["scope", "limits", "usage", "waiting"],
                "properties": {
                    "scope": SCOPE,
                    "limits": NUMBERS,
                    "usage": NUMBERS,
                    "waiting": {"type": "integer", "minimum": 0},
                },
            },
        },
    },
}


def _list(summary: str, item: Schema) -> Schema:
    return {**_op(summary, 200, {"type": "array", "items": item}), "parameters": PAGED}


PROFILE_OPERATIONS: dict[str, dict[str, Schema]] = {
    "presets.create_preset": {"post": _op("Add a preset", 201, PRESET, NEW_PRESET)},
    "presets.list_presets": {
        "get": {
            **_list("A project's presets by name", PRESET),
            "parameters": [*PAGED, INHERITED],
        }
    },
    "presets.show_preset": {"get": _op("A preset", 200, PRESET)},
    "presets.change_preset": {"put": _op("Replace a preset", 200, PRESET, NEW_PRESET)},
    "presets.delete_preset": {"delete": _op("Delete a preset", 204, None)},
    "org_presets.create_org_preset": {"post": _op("Add an org preset", 201, PRESET, NEW_PRESET)},
    "org_presets.list_org_presets": {"get": _list("An org's presets by name", PRESET)},
    "org_presets.show_org_preset": {"get": _op("An org preset", 200, PRESET)},
    "org_presets.change_org_preset": {"put": _op("Replace an org preset", 200, PRESET, NEW_PRESET)},
    "org_presets.delete_org_preset": {"delete": _op("Delete an org preset", 204, None)},
    "presets.list_queues": {"get": _list("A project's queues, highest priority first", QUEUE)},
    "presets.set_queue": {
        "put": _op(
            "Set a queue's priority",
            200,
            QUEUE,
            {"type": "object", "properties": {"priority": {"type": "integer"}}},
        )
    },
    "presets.delete_queue": {"delete": _op("Forget a queue's priority", 204, None)},
    "quotas.project_quotas": {
        "get": _op("The quotas a project's runs count against, with usage", 200, PROJECT_QUOTAS)
    },
    "quotas.set_project_quota": {"put": _op("Set the project's quota", 200, QUOTA, LIMITS)},
    "quotas.delete_project_quota": {"delete": _op("Remove the project's quota", 204, None)},
    "quotas.list_quotas": {"get": _list("Every quota, by scope", QUOTA)},
    "quotas.set_quota": {"put": _op("Set a scope's quota", 200, QUOTA, LIMITS)},
    "quotas.delete_quota": {"delete": _op("Remove a scope's quota", 204, None)},
}
