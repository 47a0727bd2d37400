"""Reading fields out of delivery payloads; a missing one is a PayloadError that names it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.errors import PayloadError

# Git's name for "no commit": forges send it for the missing side of a created or deleted ref.
ZERO_SHA = "0" * 40


def field(data: Any, dotted: str, where: str, at: str = "") -> Any:
    """The value at `dotted`; a missing or null one is a PayloadError naming `at + dotted`."""
    value = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or value.get(part) is None:
            raise PayloadError(f"{where}: field '{at}{dotted}' missing")
        value = value[part]
    return value


def text(data: Any, dotted: str) -> str:
    """The string at `dotted`, or "" when any part of the path is absent or null."""
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    return "" if value is None else str(value)


def mapping(data: Any, dotted: str, where: str, at: str = "") -> Mapping[str, Any]:
    value = field(data, dotted, where, at)
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}: field '{at}{dotted}' is not an object")
    return value


def integer(data: Any, dotted: str, where: str, at: str = "") -> int:
    """An integer field such as a pull request number; PayloadError if it is not one."""
    value = field(data, dotted, where, at)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdecimal():
        raise PayloadError(f"{where}: field '{at}{dotted}' is not a number: {value!r}")
    return int(value)
