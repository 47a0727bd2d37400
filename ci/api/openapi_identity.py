"""What the identity endpoints (ci.api.identity_api) take and answer, for the OpenAPI document
(ci.api.openapi_operations gathers them); each shape mirrors the view that builds it."""

from __future__ import annotations

from typing import Any

from ci.api.openapi_schemas import PAGE, PAGED, TEXT, TIME, Schema, query_param
from ci.api.openapi_schemas import json_operation as _op

NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^/]*\\S[^/]*$"}
ROLE: Schema = {"enum": ["viewer", "member", "admin", "owner"]}
ROLE_FILTER = query_param("role", ROLE, "only the members holding this role")
SCOPES: Schema = {
    "type": "object",
    "properties": {
        "projects": {"type": ["array", "null"], "items": TEXT},
        "actions": {"type": "array", "items": {"enum": ["read", "write", "admin"]}},
    },
}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _list(summary: str, item: Schema, extra: list[dict[str, Any]] | None = None) -> Schema:
    answer = {"type": "array", "items": item}
    return {
        **_op(f"{summary} ({PAGE})", 200, answer),
        "parameters": PAGED + (extra or []),
    }


USER = _object({"name": TEXT, "email": TEXT, "is_admin": {"type": "boolean"}, "disabled_at": TIME})
NEW_USER = _object({"name": NAME}, {"email": TEXT, "is_admin": {"type": "boolean"}})
WHOAMI = _object(
    {
        "user": {"oneOf": [USER, {"type": "null"}]},
        "is_admin": {"type": "boolean"},
        "via": TEXT,
        "scopes": SCOPES,
    }
)
ORG = _object({"name": TEXT})
NAMED = _object({"name": NAME})
ORG_MEMBER = _object({"user": TEXT, "role": ROLE})
SET_ORG_MEMBER = _object({"user": TEXT, "role": {"enum": ["member", "admin", "owner"]}})
TEAM = _object({"name": TEXT, "members": {"type": "array", "items": TEXT}})
TEAM_MEMBER = _object({"team": TEXT, "user": TEXT})
PROJECT_MEMBER = _object(
    {"user": {"type": ["string", "null"]}, "team": {"type": ["string", "null"]}, "role": ROLE}
)
SET_PROJECT_MEMBER = _object({"role": ROLE}, {"user": TEXT, "team": TEXT})
TOKEN = _object(
    {
        "id": {"type": "integer"},
        "name": TEXT,
        "prefix": TEXT,
        "scopes": SCOPES,
        "expires_at": TIME,
        "revoked_at": TIME,
        "last_used_at": TIME,
        "created_at": TIME,
    }
)
NEW_TOKEN_ANSWER: Schema = {
    "allOf": [
        TOKEN,
        _object({"user": TEXT, "token": {"type": "string", "description": "shown only now"}}),
    ]
}
NEW_TOKEN = _object(
    {},
    {
        "name": TEXT,
        "user": {"type": "string", "description": "a server admin makes a token for this user"},
        "scopes": SCOPES,
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
    },
)
AUDIT_ENTRY = _object(
    {
        "id": {"type": "integer"},
        "at": TIME,
        "actor": TEXT,
        "project": {"type": ["string", "null"]},
        "action": TEXT,
        "target": TEXT,
        "status": {"type": "integer"},
    }
)
AUDIT_FILTERS = [
    query_param("project", TEXT, "only changes to this project"),
    query_param("action", TEXT, "only this endpoint's changes, e.g. `resources.create_source`"),
]

IDENTITY_OPERATIONS: dict[str, dict[str, Schema]] = {
    "identity_api.whoami": {"get": _op("Who the token stands for", 200, WHOAMI)},
    "identity_api.list_users": {"get": _list("Users by name", USER)},
    "identity_api.create_user": {"post": _op("Add a user", 201, USER, NEW_USER)},
    "identity_api.disable_user": {
        "post": _op("Disable a user: its tokens and sessions are refused", 200, USER)
    },
    "identity_api.enable_user": {"post": _op("Enable a disabled user again", 200, USER)},
    "identity_api.list_orgs": {"get": _list("Organizations by name (a non-admin: its own)", ORG)},
    "identity_api.create_org": {"post": _op("Add an organization", 201, ORG, NAMED)},
    "identity_api.list_org_members": {
        "get": _list("An organization's members by name", ORG_MEMBER, [ROLE_FILTER])
    },
    "identity_api.set_org_member": {
        "put": _op("Give a user an org role", 200, ORG_MEMBER, SET_ORG_MEMBER)
    },
    "identity_api.remove_org_member": {"delete": _op("Remove an org member", 204, None)},
    "identity_api.list_teams": {"get": _list("An organization's teams by name", TEAM)},
    "identity_api.create_team": {"post": _op("Add a team", 201, TEAM, NAMED)},
    "identity_api.add_team_member": {
        "put": _op("Add a user to a team", 200, TEAM_MEMBER, _object({"user": TEXT}))
    },
    "identity_api.remove_team_member": {"delete": _op("Remove a team member", 204, None)},
    "identity_api.list_members": {
        "get": _list("A project's members, users and teams", PROJECT_MEMBER, [ROLE_FILTER])
    },
    "identity_api.set_member": {
        "put": _op("Give a user or team a project role", 200, PROJECT_MEMBER, SET_PROJECT_MEMBER)
    },
    "identity_api.remove_member": {"delete": _op("Remove a project member", 204, None)},
    "identity_api.list_tokens": {"get": _list("The caller's tokens, never the token", TOKEN)},
    "identity_api.create_token": {
        "post": _op("Make a personal access token", 201, NEW_TOKEN_ANSWER, NEW_TOKEN)
    },
    "identity_api.revoke_token": {"delete": _op("Revoke a token", 200, TOKEN)},
    "identity_api.list_audit": {
        "get": _list("Who changed what, newest first", AUDIT_ENTRY, AUDIT_FILTERS)
    },
}
