"""The run filter: Polyaxon's query syntax (`status:succeeded, metrics.loss:<0.3`) as SQL.

A query is comma-separated terms `field:operation`, all of which a run must meet. Operations,
as Polyaxon's parser has them: `value`, `~value` (not), `a|b` (any of), `<` `<=` `>` `>=`,
`a..b` (an inclusive range, dates), `%text%` `text%` `%text` (contains, starts, ends; case
does not matter) and `nil` (no value). Which operations a field takes depends on its kind.
The same statement works on SQLite and PostgreSQL, JSON numbers included.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import ge, gt, le, lt
from typing import Any

from sqlalchemy import Float, Select, and_, case, false, func, not_, or_, select, type_coerce
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from ci.runs.query_terms import (
    FIELDS,
    INVERSE,
    JSON_VALUE,
    KEYED,
    SCALAR,
    SortKey,
    Term,
    parse,
    parse_sort,
)
from ci.store.models import Project, Run


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
