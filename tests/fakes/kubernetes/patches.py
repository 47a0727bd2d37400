"""PATCH bodies: JSON merge patch (RFC 7386; strategic merge is treated as it) and JSON patch."""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that does not apply: 400, or 422 for a failed `test` operation."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy and test, applied in order."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid operation {operation!r}")
        op, path = operation["op"], _pointer(operation["path"])
        if op == "test":
            if _get(document, path) != operation.get("value"):
                raise PatchError(f"testing value {operation['path']} failed: test failed", 422)
        elif op == "remove":
            _remove(document, path)
        elif op in ("add", "replace"):
            if op == "replace":
                _get(document, path)
            document = _add(document, path, copy.deepcopy(operation.get("value")), op == "add")
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_get(document, source))
            if op == "move":
                _remove(document, source)
            document = _add(document, path, value, True)
        else:
            raise PatchError(f"Unexpected kind: {op}")
    return document


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f"invalid JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _get(document: Any, path: list[str]) -> Any:
    for part in path:
        try:
            document = document[int(part)] if isinstance(document, list) else document[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchError(f"doc is missing path: /{'/'.join(path)}") from None
    return document


def _add(document: Any, path: list[str], value: Any, insert: bool) -> Any:
    if not path:
        return value
    parent = _get(document, path[:-1])
    last = path[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if index > len(parent):
            raise PatchError(f"add operation does not apply: index {index} out of bounds")
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f"doc is missing path: /{'/'.join(path)}")
    return document


def _remove(document: Any, path: list[str]) -> None:
    parent = _get(document, path[:-1])
    try:
        if isinstance(parent, list):
            del parent[int(path[-1])]
        else:
            del parent[path[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"doc is missing path: /{'/'.join(path)}") from None
