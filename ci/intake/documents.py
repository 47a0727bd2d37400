"""Subscription documents: validated whole (trigger, operation, report) before they are stored."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator
from pydantic.json_schema import WithJsonSchema

from ci.reporting import comparison
from ci.runs import kinds
from notifiers.registry import notifiers
from schemas.errors import SpecError, SpecErrors
from schemas.limits import MAX_DEPTH, document_problem, nesting_problem
from schemas.spec import load_operation
from schemas.spec_base import located_error
from schemas.spec_source import SourceMap, load_source
from schemas.spelling import did_you_mean
from triggers.model_base import FLAG, parts
from triggers.subscription import read_trigger
from triggers.trigger_models import Trigger

# (the deployment's runner, an operation) → the runner kind its queue sends it to.
Route = Callable[[str, Mapping[str, Any]], str]

_OPERATION = {"type": "object", "description": "a Polyaxon 1.1 operation (see `axon schema`)"}
_REPORT = {
    "type": "object",
    "description": "notifier name → its settings (or nothing)",
    "additionalProperties": {"anyOf": [{"type": "object"}, {"type": "null"}]},
}

# The order errors are listed in, by the key they are under.
LISTING_ORDER = (
    "name",
    "description",
    "repo",
    "provider",
    "skip",
    "concurrency",
    "on",
    "operation",
    "report",
    "compare",
    "checkout",
    "quota",
)


class SubscriptionDocument(Trigger):
    """A subscription as stored: its trigger keys, the operation it runs and where it reports.

    The operation (the spec's models), the report targets (the notifier registry) and the
    comparison rules are read by their owners below, so the model only describes them.
    """

    model_config = ConfigDict(
        extra="forbid", title="Subscription", json_schema_extra={"required": ["name", "on"]}
    )
    name: Annotated[Any, WithJsonSchema({"type": "string", "minLength": 1})] = Field(
        None, validate_default=True
    )
    description: Annotated[Any, WithJsonSchema({"type": "string"})] = None
    operation: Annotated[Any, WithJsonSchema(_OPERATION)] = None
    report: Annotated[Any, WithJsonSchema(_REPORT)] = None
    checkout: Annotated[Any, WithJsonSchema(FLAG)] = None
    compare: Annotated[Any, WithJsonSchema({"description": "comparison rules"})] = None
    # Over its quota, a run waits `queued` until room frees (wait) or fails at once (refuse).
    quota: Annotated[Any, WithJsonSchema({"enum": ["wait", "refuse"]})] = None

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"unknown key; known: {', '.join(sorted(cls.keys()))}"

    @field_validator("name")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise located_error((), "required: a non-empty string")
        return value

    @field_validator("checkout")
    @classmethod
    def _checkout(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise located_error((), "expected true or false")
        return value

    @field_validator("quota")
    @classmethod
    def _quota(cls, value: Any) -> Any:
        if value not in ("wait", "refuse"):
            raise located_error((), "expected wait or refuse")
        return value


def parse_document(text: str | bytes) -> tuple[Any, SourceMap]:
    """A subscription (or a file of them) written as YAML or JSON, with the line of every value."""
    try:
        data, lines = load_source(text, "subscription")
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    except RecursionError:
        # PyYAML recurses per level: a document that exhausts the stack nests far deeper than
        # any subscription does.
        raise SpecErrors([SpecError("", f"nested more than {MAX_DEPTH} levels deep", 1)]) from None
    if nesting_problem(data) is None:  # a deeper one is refused by validate(), unwalked
        data = _dates_as_text(data)
    places: list[tuple[tuple[Any, ...], Any]]
    if isinstance(data, dict) and isinstance(data.get("subscriptions"), list):
        places = [(("subscriptions", n), doc) for n, doc in enumerate(data["subscriptions"])]
    elif isinstance(data, list):
        places = [((n,), doc) for n, doc in enumerate(data)]
    elif isinstance(data, dict):
        places = [((), data)]
    else:
        raise SpecErrors([SpecError("", "a subscription is a mapping", 1)])
    for prefix, doc in places:
        if isinstance(doc, dict):
            lines = _restore_on(doc, lines, prefix)
    return data, lines


def _dates_as_text(value: Any) -> Any:
    """YAML's dates and times as ISO 8601 text, as JSON writes them: the document is stored
    as JSON, and `description: 2024-05-01` means the text."""
    if isinstance(value, dict):
        return {_dates_as_text(key): _dates_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(item) for item in value]
    if isinstance(value, datetime.date):  # datetimes too
        return value.isoformat()
    return value


def _restore_on(doc: dict[Any, Any], lines: SourceMap, prefix: tuple[Any, ...]) -> SourceMap:
    # YAML 1.1 reads an unquoted `on:` key as true; GitHub Actions users write it so.
    if True not in doc or "on" in doc:
        return lines
    doc["on"] = doc.pop(True)
    depth, key = len(prefix), (*prefix, True)

    def renamed(path: tuple[Any, ...]) -> tuple[Any, ...]:
        return (*prefix, "on", *path[depth + 1 :]) if path[: depth + 1] == key else path

    return SourceMap(
        lines.filename,
        {renamed(path): n for path, n in lines.lines.items()},
        {renamed(path): n for path, n in lines.columns.items()},
    )


def validate(
    doc: dict[str, Any],
    lines: SourceMap | None = None,
    at: str = "",
    runner: str | None = None,
    refs: Mapping[str, Any] | None = None,
    route: Route | None = None,
) -> dict[str, Any]:
    """The document, checked; SpecErrors names every bad field with its reason (and line).

    `at` is where the document sits in a larger file (`subscriptions[2]`), for paths and lines.
    With `runner` (the deployment's), a run kind that runner cannot run is refused: an inline
    component's, and with `refs` (how the server follows references) a referenced one's.
    With `route` (ci.runs.routing.kind_for), the operation's queue picks that runner, and a
    queue no runner configuration owns is refused.
    """
    found = document_problem(doc)
    if found is not None:
        # Checked first: the checks below walk the document and store its text.
        raise SpecErrors([_placed(SpecError(*found), lines, at)])
    errors: list[SpecError] = []
    try:
        read_trigger(doc, str(doc.get("name")), SubscriptionDocument)
    except SpecErrors as exc:
        errors += exc.errors
    except SpecError as exc:
        errors.append(exc)
    errors += _operation_errors(doc.get("operation"), runner, refs, route)
    errors += _report_errors(doc.get("report", {}))
    try:
        comparison.rules(doc.get("compare"))
    except SpecError as exc:
        errors.append(exc)
    if errors:
        errors.sort(key=_listing_order)
        raise SpecErrors([_placed(e, lines, at) for e in errors])
    return doc


def _listing_order(error: SpecError) -> int:
    """Unknown keys first (a misspelt key explains other errors), then key by key."""
    key = parts(error.path)[:1]
    return LISTING_ORDER.index(key[0]) if key and key[0] in LISTING_ORDER else -1


def _placed(error: SpecError, lines: SourceMap | None, at: str) -> SpecError:
    path = f"{at}.{error.path}" if at and error.path else (at or error.path)
    # As the spec's errors are placed: the line and column of the value at fault.
    line, column = error.line, error.column
    if not line and lines is not None:
        line, column = lines.position(parts(path))
    return SpecError(path, error.reason, line, column)


def validate_many(
    text: str | bytes | dict[str, Any] | list[Any],
    runner: str | None = None,
    refs: Mapping[str, Any] | None = None,
    route: Route | None = None,
) -> list[dict[str, Any]]:
    """A file of subscriptions (`subscriptions: [...]`, a list, or a single one), all checked;
    SpecErrors lists every bad field of every subscription, and duplicate names."""
    data: Any
    lines: SourceMap | None
    data, lines = (text, None) if isinstance(text, dict | list) else parse_document(text)
    key = "subscriptions" if isinstance(data, dict) and "subscriptions" in data else ""
    items: Any = data[key] if key else data
    if not isinstance(items, list):
        items, key = [data], ""
    errors: list[SpecError] = []
    docs, seen = [], set()
    for index, doc in enumerate(items):
        at = f"{key}[{index}]" if key or isinstance(data, list) else ""
        if not isinstance(doc, dict):
            errors.append(_placed(SpecError("", "a subscription is a mapping"), lines, at))
            continue
        try:
            docs.append(validate(doc, lines, at, runner, refs, route))
        except SpecErrors as exc:
            errors += exc.errors
        name = doc.get("name")
        if not isinstance(name, str):
            continue  # validate() named the problem
        if name in seen:
            errors.append(
                _placed(SpecError("name", "another subscription has this name"), lines, at)
            )
        seen.add(name)
    if errors:
        raise SpecErrors(errors)
    return docs


def _operation_errors(
    operation: Any,
    runner: str | None = None,
    refs: Mapping[str, Any] | None = None,
    route: Route | None = None,
) -> list[SpecError]:
    if operation is None:
        return [SpecError("operation", "required: a Polyaxon 1.1 operation")]
    if not isinstance(operation, dict):
        kind = type(operation).__name__
        return [
            SpecError("operation", f"expected a mapping (a Polyaxon 1.1 operation), not a {kind}")
        ]
    try:
        load_operation(operation)
    except SpecErrors as exc:
        return [_prefixed(e) for e in exc.errors]
    except SpecError as exc:
        return [_prefixed(exc)]
    if runner is None:
        return []
    if route is not None:
        try:
            runner = route(runner, operation)
        except ValueError as exc:
            where = "queue" if operation.get("queue") else "component.queue"
            return [SpecError(f"operation.{where}", str(exc))]
    refused = kinds.operation_refusals(runner, operation, refs)
    return [SpecError(kinds.dotted(path), why) for path, why in refused]


def _prefixed(error: SpecError) -> SpecError:
    path = f"operation.{error.path}" if error.path else "operation"
    return SpecError(path, error.reason, error.line)


def _report_errors(report: Any) -> list[SpecError]:
    if not isinstance(report, dict):
        return [SpecError("report", "expected a mapping of target name to its settings")]
    errors = []
    connections: dict[str, str] = {}
    for target, config in report.items():
        if target not in notifiers:
            hint = did_you_mean(target, notifiers.names(), f"known: {notifiers.names()}")
            errors.append(SpecError(f"report.{target}", f"unknown target; {hint}"))
        elif config is not None and not isinstance(config, dict):
            errors.append(SpecError(f"report.{target}", "expected a mapping (or nothing)"))
        elif config and "connection" in config:
            errors += _connection_errors(target, config["connection"], connections)
    return errors


def _connection_errors(target: str, name: Any, seen: dict[str, str]) -> list[SpecError]:
    """A target's `connection:` is the name hooks call it by: one text, one target per name."""
    path = f"report.{target}.connection"
    if not isinstance(name, str) or not name.strip():
        return [SpecError(path, "expected the connection's name, a non-empty text")]
    if name in seen:
        return [SpecError(path, f"connection {name!r} already names report.{seen[name]}")]
    seen[name] = target
    return []


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a subscriptions file (one subscription, a list of them, or
    `subscriptions: [...]`), for editors: `axon schema --subscription`."""
    one = SubscriptionDocument.model_json_schema(by_alias=True)
    definitions = {**one.pop("$defs", {}), "Subscription": one}
    ref = {"$ref": "#/$defs/Subscription"}
    listed = {"type": "array", "items": ref}
    file = {
        "type": "object",
        "properties": {"subscriptions": listed},
        "required": ["subscriptions"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Axon subscriptions",
        "anyOf": [ref, listed, file],
        "$defs": definitions,
    }
