"""The run filter: Polyaxon's query syntax (`status:succeeded, metrics.loss:<0.3`) as SQL.

A query is comma-separated terms `field:operation`, all of which a run must meet. Operations,
as Polyaxon's parser has them: `value`, `~value` (not), `a|b` (any of), `<` `<=` `>` `>=`,
`a..b` (an inclusive range, dates), `%text%` `text%` `%text` (contains, starts, ends; case
does not matter) and `nil` (no value). Which operations a field takes depends on its kind.
The same statement works on SQLite and PostgreSQL, JSON numbers included.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import ge, gt, le, lt
from typing import Any

from sqlalchemy import Float, Select, and_, case, false, func, not_, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from ci.store.models import Project, Run
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


def select_runs(
    session: Session,
    project_id: int | None,
    text: str | None,
    limit: int | None = None,
    sort: str | None = None,
    offset: int | None = None,
) -> Select[Run]:
    """The runs (of `project_id`, if given) the query `text` matches, ordered by `sort`
    (newest first when none is given); QueryError for a term or sort key that cannot be read."""
    sql = _Sql(session.get_bind().dialect.name)
    statement = select(Run)
    if project_id is not None:
        statement = statement.where(Run.project_id == project_id)
    for term in parse(text or "").terms:
        statement = statement.where(sql.condition(term))
    order = [clause for key in parse_sort(sort or "") for clause in sql.order(key)]
    statement = statement.order_by(*order, Run.id.desc())
    if offset:
        statement = statement.offset(offset)
    if limit is not None:
        statement = statement.limit(limit)
    return statement


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


class _Sql:
    """Terms and sort keys as SQL for one dialect (JSON reads differ between them)."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def condition(self, term: Term) -> ColumnElement[bool]:
        if term.field in ("parent", "original", "project"):
            return self._by_name(term)
        if term.key is not None and term.op == "nil":
            kind = self._json_kind(getattr(Run, KEYED[term.field]), term.key)
            missing = or_(kind.is_(None), kind == "null")
            return not_(missing) if term.negation else missing
        if FIELDS[term.field] == JSON_VALUE and term.op in ("=", "in"):
            return _negated(self._json_equal(term), term.negation)
        numeric = term.op in INVERSE or FIELDS[term.field] == SCALAR
        return _apply(self._column(term.field, term.key, numeric=numeric), term)

    def order(self, key: SortKey) -> list[ColumnElement[Any]]:
        columns = [self._column(key.field, key.key, numeric=True)]
        if key.field in ("outputs", "inputs"):
            columns.append(self._column(key.field, key.key, numeric=False))
        return [(c.desc() if key.descending else c.asc()).nulls_last() for c in columns]

    def _column(self, field: str, key: str | None, numeric: bool) -> ColumnElement[Any]:
        if key is not None:
            document = getattr(Run, KEYED[field])
            return self._json_number(document, key) if numeric else self._json_text(document, key)
        if field == "duration":
            return self._duration()
        return getattr(Run, field)  # type: ignore[no-any-return]

    def _by_name(self, term: Term) -> ColumnElement[bool]:
        """parent and original name a run by its uuid, project a project by its name."""
        if term.field == "project":
            found = select(Project.id).where(_apply(Project.name, _plain(term)))
            return _negated(Run.project_id.in_(found), term.negation)
        column = Run.parent_id if term.field == "parent" else Run.original_id
        if term.op == "nil":
            return column.is_not(None) if term.negation else column.is_(None)
        other = aliased(Run)
        found = select(other.id).where(_apply(other.uuid, _plain(term)))
        return _negated(column.in_(found), term.negation)

    def _json_equal(self, term: Term) -> ColumnElement[bool]:
        document = getattr(Run, KEYED[term.field])
        assert term.key is not None
        text, number = self._json_text(document, term.key), self._json_number(document, term.key)
        matches = []
        for value in term.value if term.op == "in" else [term.value]:
            matches.append(text == value)
            try:
                matches.append(number == float(value))
            except ValueError:
                pass
        return or_(*matches)

    def _json_kind(self, document: Any, key: str) -> ColumnElement[Any]:
        """The JSON type of the value: NULL when the key is missing, 'null' for a null."""
        if self.postgres:
            return func.jsonb_typeof(document[key])
        return func.json_type(document, _path(key))

    def _json_number(self, document: Any, key: str) -> ColumnElement[Any]:
        kind = self._json_kind(document, key)
        if self.postgres:
            # Guarded: casting a text value to a number would fail the whole statement.
            return case((kind == "number", document[key].as_float()))
        is_number = kind.in_(["integer", "real"])
        return type_coerce(case((is_number, func.json_extract(document, _path(key)))), Float)

    def _json_text(self, document: Any, key: str) -> ColumnElement[Any]:
        if self.postgres:
            return document[key].as_string()  # type: ignore[no-any-return]
        path = _path(key)
        kind = self._json_kind(document, key)
        # SQLite gives true and false as 1 and 0; PostgreSQL's text is 'true' and 'false'.
        return case(
            (kind == "true", "true"),
            (kind == "false", "false"),
            (kind == "text", func.json_extract(document, path)),
        )

    def _duration(self) -> ColumnElement[Any]:
        if self.postgres:
            return func.extract("epoch", Run.finished_at - Run.started_at)
        seconds = (func.julianday(Run.finished_at) - func.julianday(Run.started_at)) * 86400.0
        return type_coerce(seconds, Float)


def _path(key: str) -> str:
    return f'$."{key}"'  # KEY allows no quote, so the name cannot end the string


def _plain(term: Term) -> Term:
    """`term` without its negation (applied around the lookup instead)."""
    return Term(term.text, term.field, term.key, term.op, False, term.value)


def _negated(condition: ColumnElement[bool], negation: bool) -> ColumnElement[bool]:
    # A run with no value at all (NULL) is one whose value is not the one asked for.
    return not_(func.coalesce(condition, false())) if negation else condition


def _apply(column: Any, term: Term) -> ColumnElement[bool]:
    op, value = term.op, term.value
    if op == "nil":
        return column.is_not(None) if term.negation else column.is_(None)  # type: ignore[no-any-return]
    if op in INVERSE:
        op = INVERSE[op] if term.negation else op
        return _COMPARE[op](column, value)
    condition: ColumnElement[bool]
    if op == "=":
        condition = column == value
    elif op == "in":
        condition = column.in_(value)
    elif op == "range":
        condition = and_(column >= value[0], column <= value[1])
    else:
        condition = getattr(column, f"i{op}")(value, autoescape=True)
    return _negated(condition, term.negation)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {"<": lt, "<=": le, ">": gt, ">=": ge}
