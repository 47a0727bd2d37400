"""Subscription documents: validated whole (trigger, operation, report) before they are stored."""

from __future__ import annotations

import difflib
import re
from typing import Any

from notifiers.registry import notifiers
from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_operation
from schemas.spec_source import SourceMap, load_source
from triggers.subscription import TRIGGER_KEYS, compile_subscription

KEYS = TRIGGER_KEYS | {"name", "description", "operation", "report", "checkout"}


def parse_document(text: str | bytes) -> tuple[dict[str, Any], SourceMap]:
    """A subscription written as YAML or JSON, with the line of every value."""
    try:
        data, lines = load_source(text, "subscription")
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    if not isinstance(data, dict):
        raise SpecErrors([SpecError("", "a subscription is a mapping", 1)])
    if True in data and "on" not in data:
        # YAML 1.1 reads an unquoted `on:` key as true; GitHub Actions users write it so.
        data["on"] = data.pop(True)
        moved = {
            (("on", *path[1:]) if path[:1] == (True,) else path): n
            for path, n in lines.lines.items()
        }
        lines = SourceMap(lines.filename, moved)
    return data, lines


def _parts(path: str) -> tuple[str | int, ...]:
    """`operation.inputs[0].name` → ("operation", "inputs", 0, "name")."""
    return tuple(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path))


def validate(doc: dict[str, Any], lines: SourceMap | None = None) -> dict[str, Any]:
    """The document, checked; SpecErrors names every bad field with its reason (and line)."""
    errors: list[SpecError] = []
    unknown = sorted(set(doc) - KEYS)
    errors += [SpecError(key, f"unknown key; known: {', '.join(sorted(KEYS))}") for key in unknown]
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(SpecError("name", "required: a non-empty string"))
    try:
        compile_subscription(0, str(name), doc)
    except SpecErrors as exc:
        errors += exc.errors
    except SpecError as exc:
        errors.append(exc)
    errors += _operation_errors(doc.get("operation"))
    errors += _report_errors(doc.get("report", {}))
    if "checkout" in doc and not isinstance(doc["checkout"], bool):
        errors.append(SpecError("checkout", "expected true or false"))
    if errors:
        if lines is not None:
            errors = [
                SpecError(e.path, e.reason, e.line or lines.line(_parts(e.path))) for e in errors
            ]
        raise SpecErrors(errors)
    return doc


def _operation_errors(operation: Any) -> list[SpecError]:
    if operation is None:
        return [SpecError("operation", "required: a Polyaxon 1.1 operation")]
    try:
        load_operation(operation)
    except SpecErrors as exc:
        return [_prefixed(e) for e in exc.errors]
    except SpecError as exc:
        return [_prefixed(exc)]
    return []


def _prefixed(error: SpecError) -> SpecError:
    path = f"operation.{error.path}" if error.path else "operation"
    return SpecError(path, error.reason, error.line)


def _report_errors(report: Any) -> list[SpecError]:
    if not isinstance(report, dict):
        return [SpecError("report", "expected a mapping of target name to its settings")]
    errors = []
    for target, config in report.items():
        if target not in notifiers:
            close = difflib.get_close_matches(str(target), notifiers.names(), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {notifiers.names()}"
            errors.append(SpecError(f"report.{target}", f"unknown target; {hint}"))
        elif config is not None and not isinstance(config, dict):
            errors.append(SpecError(f"report.{target}", "expected a mapping (or nothing)"))
    return errors
