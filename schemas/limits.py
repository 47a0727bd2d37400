"""Limits a decoded document from outside must keep: how deep it nests, and storable text."""

from __future__ import annotations

import math
from typing import Any

# Deeper than any real spec or forge payload (they nest about ten levels), and far from
# Python's recursion limit, which the code that walks a document recursively would reach.
MAX_DEPTH = 64


def nesting_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` nests too deeply to be walked safely, or None."""
    # Only containers are kept on the stack: a webhook's payload is checked on the request's
    # path, and most of its items are scalars.
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"nested more than {max_depth} levels deep"
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def document_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """(path, reason) of the first thing in `value` that cannot be stored, or None.

    Too deep a document; text PostgreSQL refuses: a NUL character or half of a surrogate
    pair (JSON can spell both, as `\\u0000` and `\\ud800`); numbers JSON has no word for
    (NaN, Infinity); and what YAML can make but JSON cannot hold (binary, sets).
    """
    too_deep = nesting_problem(value, max_depth)
    if too_deep:
        return "", too_deep
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (bad := _bad_text(key)):
                    return path, f"key {key[:40]!r}: {bad}"
                stack.append((child, where))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{n}]") for n, child in enumerate(item))
        elif isinstance(item, str) and (bad := _bad_text(item)):
            return path, bad
        elif isinstance(item, float) and not math.isfinite(item):
            return path, f"{item} is not a finite number"
        elif not isinstance(item, str | int | float | bool | type(None)):
            return path, f"expected text, a number, a list or a mapping, not {type(item).__name__}"
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "text may not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text may not contain an unpaired surrogate"
    return None
