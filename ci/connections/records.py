"""A connection as a user writes it: each field checked (a bad one named, its value never
echoed), then stored with its secret values sealed."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.connections import crypto
from ci.runtime import Runtime
from ci.store.models import Connection

# Polyaxon's connection kinds that carry credentials, and `secret` for anything else.
KINDS = (
    "git", "s3", "gcs", "wasb", "registry", "slack", "discord", "mattermost", "pagerduty",
    "webhook", "smtp", "ssh", "http", "aws", "gcp", "azure", "secret", "custom",
)  # fmt: skip
# The plain settings a kind cannot do without.
REQUIRED_SCHEMA = {
    "git": ("url",),
    "s3": ("bucket",),
    "gcs": ("bucket",),
    "wasb": ("bucket",),
    "registry": ("url",),
    "smtp": ("host",),
}
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # a DNS label, as Polyaxon names them
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,252}$")  # a Secret's key, usable as a file name
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,252}$")
MAX_VALUE = 64 * 1024


class ConnectionInvalid(Exception):
    """A field of a connection is wrong: `path` names it, `reason` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def find(session: Session, project_id: int, name: str) -> Connection | None:
    return session.scalar(
        select(Connection).where(Connection.project_id == project_id, Connection.name == name)
    )


def create(rt: Runtime, project_id: int, data: Mapping[str, Any]) -> Connection:
    """A new connection (not yet added to a session) from a request's fields."""
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConnectionInvalid(
            "name", "required: lowercase letters, digits and '-', at most 63, as a DNS label"
        )
    row = Connection(project_id=project_id, name=name, kind="", schema={}, env={}, mount_path="")
    update(rt, row, {"secret": {}, **data}, creating=True)
    return row


def update(rt: Runtime, row: Connection, data: Mapping[str, Any], creating: bool = False) -> None:
    """Apply the fields given: `secret` merges (a null value removes that key); the others
    replace what the row had. Every field is checked before the row changes."""
    unknown = sorted(set(data) - {"name", "kind", "schema", "secret", "mount_path", "env"})
    if unknown:
        raise ConnectionInvalid(unknown[0], "unknown field")
    if not creating and "name" in data and data["name"] != row.name:
        raise ConnectionInvalid("name", "cannot change; create a connection of the new name")
    kind = _kind(data["kind"]) if "kind" in data or creating else row.kind
    schema = _schema(data["schema"]) if "schema" in data else dict(row.schema or {})
    for field in REQUIRED_SCHEMA.get(kind, ()):
        if field not in schema:
            raise ConnectionInvalid(f"schema.{field}", f"required for a {kind} connection")
    values = crypto.unseal(rt, row.secret, f"connection {row.name!r}") if row.secret else {}
    if "secret" in data:
        values = _merged(values, data["secret"])
    mount_path = _mount_path(data["mount_path"]) if "mount_path" in data else row.mount_path
    env = _env(data["env"], values) if "env" in data else dict(row.env or {})
    for variable, key in env.items():
        if key not in values:
            raise ConnectionInvalid(f"env.{variable}", f"names {key!r}, not a key of its secret")
    row.kind, row.schema, row.mount_path, row.env = kind, schema, mount_path, env
    row.secret_keys = sorted(values)
    row.secret = crypto.seal(rt, values) if values else ""


def _kind(value: Any) -> str:
    if value not in KINDS:
        raise ConnectionInvalid("kind", f"required, one of {', '.join(KINDS)}")
    return str(value)


def _schema(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConnectionInvalid("schema", "expected an object of plain (not secret) settings")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool) and item is not None:
            raise ConnectionInvalid(f"schema.{key}", "expected text, a number or a boolean")
    return dict(value)


def _merged(values: dict[str, str], given: Any) -> dict[str, str]:
    if not isinstance(given, Mapping):
        raise ConnectionInvalid("secret", "expected an object of secret names to text values")
    merged = dict(values)
    for key, value in given.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise ConnectionInvalid(
                "secret", "each name: a letter or '_', then letters, digits, '_', '.' or '-'"
            )
        if value is None:
            merged.pop(key, None)
        elif not isinstance(value, str):
            raise ConnectionInvalid(f"secret.{key}", "expected text")
        elif len(value.encode()) > MAX_VALUE:
            raise ConnectionInvalid(f"secret.{key}", f"longer than {MAX_VALUE} bytes")
        else:
            merged[key] = value
    return merged


def _mount_path(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 512:
        raise ConnectionInvalid("mount_path", "expected an absolute path")
    if ".." in value.split("/") or posixpath.normpath(value) == "/":
        raise ConnectionInvalid("mount_path", "expected a directory below '/', without '..'")
    return posixpath.normpath(value)


def _env(value: Any, values: Mapping[str, str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConnectionInvalid("env", "expected an object of variable names to secret names")
    for variable, key in value.items():
        if not isinstance(variable, str) or not VARIABLE.match(variable):
            raise ConnectionInvalid(
                "env", "each variable: a letter or '_', then letters, digits or '_'"
            )
        if not isinstance(key, str):
            raise ConnectionInvalid(f"env.{variable}", "expected the name of a secret value")
    return dict(value)
