"""Query parameters as the API server reads them: booleans (`true`, `True`, `1`…) and integers."""

from __future__ import annotations

from typing import Any

from tests.fakes.kubernetes import status

# Go's strconv.ParseBool: what the server accepts; the Python client sends "true" or "True".
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def flag(params: Any, name: str) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise status.bad_request(f'invalid boolean value "{value}" for parameter {name}')


def number(params: Any, name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise status.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from None


def resource_version(text: str) -> int:
    if not text.isdigit():
        raise status.bad_request(f'resourceVersion: Invalid value: "{text}": must be a number')
    return int(text)
