"""A preset as the API reads and shows it: the body's keys and rules, the same for a project's
presets and an org's."""

from __future__ import annotations

from typing import Any

from ci.api.errors import ApiError
from ci.api.resources import body
from ci.runs import presets
from ci.store.models import OrgPreset, Preset

PRESET_KEYS = frozenset({"name", "preset", "default"})


def view(row: Preset | OrgPreset) -> dict[str, Any]:
    return {
        "name": row.name,
        "scope": "org" if isinstance(row, OrgPreset) else "project",
        "default": row.is_default,
        "preset": row.document,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def invalid(path: str, reason: str) -> ApiError:
    return ApiError(
        422, f"{path}: {reason}", errors=[{"path": path, "reason": reason, "line": None}]
    )


def replacement(name: str) -> tuple[dict[str, Any], bool]:
    """The document and default flag a PUT gives the preset `name`, which keeps its name."""
    data = body()
    if data.get("name", name) != name:
        raise invalid("name", "a preset keeps its name: create one under the new name")
    return fields(data, name)


def fields(data: dict[str, Any], name: str) -> tuple[dict[str, Any], bool]:
    unknown = sorted(set(data) - PRESET_KEYS)
    if unknown:
        raise invalid(unknown[0], f"unknown key; known: {', '.join(sorted(PRESET_KEYS))}")
    default = data.get("default", False)
    if not isinstance(default, bool):
        raise invalid("default", "expected true or false")
    if "preset" not in data:
        raise invalid("preset", "required: the preset document (a mapping or YAML text)")
    try:
        return presets.parse(name, data["preset"]), default
    except presets.PresetInvalid as exc:
        raise invalid(exc.path, exc.reason) from None
