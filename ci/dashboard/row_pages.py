"""Pages of a long list: newest first by id (links to newer and older pages), or numbered."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ci.api.errors import ApiError

PAGING = ("before", "after", "page")


@dataclass(frozen=True)
class Window:
    """One page of rows newest first; `newer` and `older` are the ids its links page from."""

    rows: list[Any]
    newer: int | None
    older: int | None


@dataclass(frozen=True)
class Numbered:
    """Page `number` of `pages`, holding `rows` of `total`."""

    rows: list[Any]
    number: int
    pages: int
    total: int


def whole_number(name: str, least: int = 0) -> int | None:
    """Query parameter `name` as a whole number of at least `least`; None when not given."""
    given = request.args.get(name, "").strip()
    if not given:
        return None
    # ASCII digits only, and few of them: int() reads other scripts' digits, and a value
    # beyond a 64-bit integer would reach the database as something it cannot compare.
    if not (given.isascii() and given.isdigit() and len(given) <= 18) or int(given) < least:
        raise ApiError(
            400, f"{name}: expected a whole number of at least {least}, not {given[:20]!r}"
        )
    return int(given)


def newest_first(session: Session, query: Select[Any], key: Any, size: int) -> Window:
    """The page of `query`'s rows below `?before=` or above `?after=` (by `key`, their id),
    newest first. Paging by id stays as fast on the millionth row as on the first, where an
    offset would read every row before it."""
    before, after = whole_number("before"), whole_number("after")
    if after is not None:
        found = list(session.scalars(query.where(key > after).order_by(key.asc()).limit(size + 1)))
        rows = found[:size][::-1]
        newer = rows[0].id if len(found) > size else None
        return Window(rows, newer, rows[-1].id if rows else None)
    if before is not None:
        query = query.where(key < before)
    found = list(session.scalars(query.order_by(key.desc()).limit(size + 1)))
    rows = found[:size]
    older = rows[-1].id if len(found) > size else None
    return Window(rows, rows[0].id if rows and before is not None else None, older)


def numbered(session: Session, query: Select[Any], order: Any, size: int) -> Numbered:
    """Page `?page=` (from 1) of `query`'s rows in `order`."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, math.ceil(total / size))
    number = min(whole_number("page", least=1) or 1, pages)
    rows = list(session.scalars(query.order_by(order).offset((number - 1) * size).limit(size)))
    return Numbered(rows, number, pages, total)


def page_url(**changes: str | int | None) -> str:
    """This page's URL with its filters kept and its paging parameters set to `changes`."""
    kept = {k: v for k, v in request.args.items() if k not in PAGING and v}
    kept.update({k: str(v) for k, v in changes.items() if v is not None})
    return f"{request.path}?{urlencode(kept)}" if kept else request.path
