"""Subscription documents: validated whole (trigger, operation, report) before they are stored."""

from __future__ import annotations

from typing import Any

import yaml

from notifiers.registry import notifiers
from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_operation
from triggers.subscription import TRIGGER_KEYS, compile_subscription

KEYS = TRIGGER_KEYS | {"name", "description", "operation", "report", "checkout"}


def parse_document(text: str | bytes) -> dict[str, Any]:
    """A subscription written as YAML or JSON."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(
            "", f"not valid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None
        ) from exc
    if not isinstance(data, dict):
        raise SpecError("", "a subscription is a mapping")
    return data


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """The document, checked; SpecErrors names every bad field with its reason."""
    errors: list[SpecError] = []
    unknown = sorted(set(doc) - KEYS)
    errors += [SpecError(key, f"unknown key; known: {', '.join(sorted(KEYS))}") for key in unknown]
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(SpecError("name", "required: a non-empty string"))
    try:
        compile_subscription(0, str(name), doc)
    except SpecError as exc:
        errors.append(exc)
    errors += _operation_errors(doc.get("operation"))
    errors += _report_errors(doc.get("report", {}))
    if "checkout" in doc and not isinstance(doc["checkout"], bool):
        errors.append(SpecError("checkout", "expected true or false"))
    if errors:
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
            errors.append(
                SpecError(f"report.{target}", f"unknown target; known: {notifiers.names()}")
            )
        elif config is not None and not isinstance(config, dict):
            errors.append(SpecError(f"report.{target}", "expected a mapping (or nothing)"))
    return errors
