"""The run filter's reading: a query's terms and sort keys from their text, each checked.

The syntax is ci.runs.query's; a term that cannot be read is a QueryError that names it and why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from schemas.spelling import did_you_mean
from schemas.status import RunStatus

# How a field's operations are read, after Polyaxon's parsers of the same names.
SEARCH, VALUE, DATETIME, SCALAR, JSON_VALUE = "search", "value", "datetime", "scalar", "json"
KINDS = {
    SEARCH: ("uuid", "name", "op_name"),
    VALUE: ("status", "kind", "pending", "cloning_kind", "project", "parent", "original"),
    DATETIME: ("created_at", "updated_at", "started_at", "finished_at"),
    SCALAR: ("id", "duration", "attempt", "metrics"),
    JSON_VALUE: ("outputs", "inputs"),
}
FIELDS: dict[str, str] = {field: kind for kind, fields in KINDS.items() for field in fields}
# Polyaxon's other names for the same fields.
ALIASES = {"uid": "uuid", "params": "inputs", "in": "inputs", "out": "outputs"}
# Fields that name one value inside the run's JSON: `metrics.loss`.
KEYED = {"metrics": "outputs", "outputs": "outputs", "inputs": "inputs"}
SORTABLE = frozenset(FIELDS) - {"project", "parent", "original", "pending", "cloning_kind"}
KEY = re.compile(r"^[\w\-]+$")
COMPARISONS = ("<=", ">=", "<", ">")
# What `~` makes of a comparison (Polyaxon: `metrics.loss:~<0.3` is `metrics.loss:>=0.3`).
INVERSE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


class QueryError(ValueError):
    """A term of a query or sort that cannot be read, and why."""

    def __init__(self, term: str, reason: str) -> None:
        super().__init__(f"query term {term!r}: {reason}")
        self.term, self.reason = term, reason


@dataclass(frozen=True)
class Term:
    """One condition: `op` is =, in, <, <=, >, >=, range, nil, contains, startswith, endswith."""

    text: str
    field: str
    key: str | None
    op: str
    negation: bool
    value: Any


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class SortKey:
    text: str
    field: str
    key: str | None
    descending: bool


def parse(text: str) -> Query:
    """The terms of `text`; QueryError naming the first term that cannot be read."""
    return Query(tuple(_term(part.strip()) for part in text.split(",") if part.strip()))


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """`-created_at,name`: fields to order by, `-` for descending."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        descending, name = part.startswith("-"), part.lstrip("-+").strip()
        first = name.partition(".")[0].strip()
        if ALIASES.get(first, first) not in SORTABLE:
            sortable = _listed(SORTABLE - set(KEYED))
            raise QueryError(
                part, f"cannot sort by {name!r}; sortable: {sortable}, metrics.<name>, ..."
            )
        field, key = _field(part, name)
        keys.append(SortKey(part, field, key, descending))
    return tuple(keys)


def _listed(names: frozenset[str] | dict[str, str]) -> str:
    return ", ".join(sorted(names))


def _field(term: str, name: str) -> tuple[str, str | None]:
    field, _, key = name.partition(".")
    field = ALIASES.get(field.strip(), field.strip())
    key = key.strip()
    if field not in FIELDS:
        hint = did_you_mean(field, [*FIELDS, *ALIASES], f"known: {_listed(FIELDS)}")
        raise QueryError(term, f"unknown field {field!r}; {hint}")
    if field in KEYED and not KEY.match(key):
        raise QueryError(term, f"{field} names a value: {field}.<name> (letters, digits, _ or -)")
    if field not in KEYED and key:
        raise QueryError(term, f"{field} has no parts to name ({field}.{key})")
    return field, key or None


def _term(text: str) -> Term:
    # Split at the first colon only: a time of day (`created_at:>2026-01-01 10:30`) has more.
    name, colon, operation = text.partition(":")
    if not colon or not name.strip() or not operation.strip():
        raise QueryError(text, "expected field:operation, as in status:succeeded")
    field, key = _field(text, name)
    negation, rest = _negation(operation.strip())
    if rest == "nil":
        return Term(text, field, key, "nil", negation, None)
    op, value = _READERS[FIELDS[field]](text, rest)
    if field == "status":
        _check_statuses(text, value)
    return Term(text, field, key, op, negation, value)


def _negation(operation: str) -> tuple[bool, str]:
    if operation.startswith("~"):
        return True, operation[1:].strip()
    return False, operation


def _comparison(operation: str) -> tuple[str | None, str]:
    for op in COMPARISONS:
        if operation.startswith(op):
            return op, operation[len(op) :].strip()
    return None, operation


def _refuse(text: str, operation: str, *symbols: str) -> None:
    for symbol in symbols:
        if symbol in operation:
            raise QueryError(text, f"`{symbol}` is not allowed for this field")


def _values(text: str, operation: str) -> tuple[str, Any]:
    _refuse(text, operation, "..")
    op, rest = _comparison(operation)
    if op:
        raise QueryError(text, f"`{op}` is not allowed for this field; it takes values")
    if "|" in rest:
        values = [v.strip() for v in rest.split("|") if v.strip()]
        if len(values) < 2:
            raise QueryError(text, "`|` joins two or more values")
        return "in", values
    if not rest:
        raise QueryError(text, "a value is missing")
    return "=", rest


def _search(text: str, operation: str) -> tuple[str, Any]:
    op, value = _values(text, operation)
    if op == "in" or "%" not in value:
        return op, value
    inner = value.strip("%").strip()
    if not inner or "%" in inner:
        raise QueryError(text, "`%` goes at the start, the end or both ends of a value")
    if value.startswith("%") and value.endswith("%"):
        return "contains", inner
    return ("endswith" if value.startswith("%") else "startswith"), inner


def _number(text: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise QueryError(text, f"expected a number, not {value!r}")
    return number


def _scalar(text: str, operation: str) -> tuple[str, Any]:
    _refuse(text, operation, "|", "..")
    op, rest = _comparison(operation)
    return op or "=", _number(text, rest)


def _json_value(text: str, operation: str) -> tuple[str, Any]:
    # Beyond Polyaxon, whose outputs and inputs take values only: a comparison is numeric.
    op, rest = _comparison(operation)
    if op:
        _refuse(text, rest, "|", "..")
        return op, _number(text, rest)
    return _values(text, operation)


def _datetime_value(text: str, operation: str) -> tuple[str, Any]:
    _refuse(text, operation, "|")
    if ".." in operation:
        bounds = [b.strip() for b in operation.split("..")]
        if len(bounds) != 2 or not all(bounds):
            raise QueryError(text, "a range is start..end, two dates")
        return "range", tuple(_moment(text, b)[0] for b in bounds)
    op, rest = _comparison(operation)
    moment, whole_day = _moment(text, rest)
    if op is None and whole_day:
        # A bare date means that day (Polyaxon would compare with its midnight only).
        if moment.date() == date.max:
            return ">=", moment
        return "range", (moment, moment + timedelta(days=1) - timedelta(microseconds=1))
    return op or "=", moment


def _moment(text: str, value: str) -> tuple[datetime, bool]:
    """The UTC time `value` names, and whether it is a bare date."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC), True
        moment = datetime.fromisoformat(value)
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise QueryError(text, f"expected a date (2026-01-31) or time, not {value!r}") from None
    return utc, False


_READERS: dict[str, Callable[[str, str], tuple[str, Any]]] = {
    SEARCH: _search,
    VALUE: _values,
    DATETIME: _datetime_value,
    SCALAR: _scalar,
    JSON_VALUE: _json_value,
}


def _check_statuses(text: str, value: Any) -> None:
    known = [str(s) for s in RunStatus]
    for status in value if isinstance(value, list) else [value]:
        if status not in known:
            hint = did_you_mean(status, known, f"known: {', '.join(known)}")
            raise QueryError(text, f"no status {status!r}; {hint}")
