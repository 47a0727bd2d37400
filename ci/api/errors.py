"""Errors as RFC 9457 problem documents (application/problem+json) that name the field and
the reason.

Each answer has the standard members (`type`, `title`, `status`, `detail`, `instance`), `field`
and `reason` where one field is at fault, and the `error: {code, message, ...}` member that
clients of the API before problem documents read.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError
from werkzeug.exceptions import HTTPException

from schemas.errors import SpecError, SpecErrors
from schemas.limits import MAX_DEPTH, document_problem

log = logging.getLogger(__name__)
DATABASE_UNAVAILABLE = "the database cannot be reached; nothing was stored, retry later"
RETRY_AFTER_SECONDS = 30


PROBLEM_TYPE = "application/problem+json"
# A message that starts with a field's name, as "limit: expected a whole number", or
# "run.container.image: required", names the field at fault.
FIELD_FIRST = re.compile(r"^(?P<field>[A-Za-z_][\w.\[\]-]*): (?P<reason>.+)$", re.DOTALL)


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    """The problem document for an error: RFC 9457 members, then the older `error` member."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": "about:blank",  # RFC 9457: the status and its title say all there is
        "title": title,
        "status": status,
        "detail": message,
        "instance": request.path if has_request_context() else None,
    }
    body.update(_fault(message, extra.get("errors")))
    body["error"] = {"code": status, "message": message, **extra}
    return body


def _fault(message: str, errors: Any) -> dict[str, Any]:
    """`field` and `reason` when the error names the field at fault."""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        if first.get("path"):
            return {"field": str(first["path"]), "reason": str(first.get("reason") or message)}
    found = FIELD_FIRST.match(message)
    if found is None:
        return {}
    return {"field": found["field"], "reason": found["reason"]}


def problem(status: int, message: str, **extra: Any) -> Response:
    """The error as an application/problem+json response."""
    response = jsonify(error_body(status, message, **extra))
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    return response


def database_unavailable(exc: Exception) -> bool:
    """Whether `exc` says the database is down or unreachable, rather than a bug in a query."""
    if isinstance(exc, OperationalError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def json_body() -> Any:
    """The request's JSON document; None if there is none or it is not JSON.

    ApiError if it nests too deeply, or holds text the database cannot store.
    """
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, f"body: nested more than {MAX_DEPTH} levels deep") from None
    found = document_problem(data)
    if found is not None:
        path, reason = found
        if not path:
            raise ApiError(400, f"body: {reason}")
        raise ApiError(
            422, f"{path}: {reason}", errors=[{"path": path, "reason": reason, "line": None}]
        )
    return data


def limit_param(default: int = 50, most: int = 500) -> int:
    """`?limit=`: how many rows a list answers with, at most `most`; ApiError unless 1 or more."""
    given = request.args.get("limit")
    if given is None or not given.strip():
        return default
    try:
        limit = int(given)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ApiError(400, f"limit: expected a whole number from 1 to {most}, not {given[:20]!r}")
    return min(limit, most)


def offset_param() -> int:
    """`?offset=`: how many rows of the answer to skip; ApiError unless 0 or more."""
    given = request.args.get("offset", "").strip()
    if not given:
        return 0
    # Capped so the database is never handed a number wider than its integers.
    if not (given.isascii() and given.isdigit()) or len(given) > 9:
        expected = "offset: expected a whole number from 0 to 999999999"
        raise ApiError(400, f"{expected}, not {given[:20]!r}")
    return int(given)


def page_params(default: int = 50, most: int = 500) -> tuple[int, int]:
    """`?limit=` and `?offset=`, which every list answer takes alike."""
    return limit_param(default, most), offset_param()


def _refuse_nul() -> None:
    # PostgreSQL text cannot hold NUL: a name or filter with one could never match anything.
    if "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)
    ):
        raise ApiError(
            400, "the URL contains a NUL character (%00), which no name or value may hold"
        )


def register(app: Flask) -> None:
    app.before_request(_refuse_nul)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        return problem(exc.status, exc.message, **exc.extra)

    @app.errorhandler(SpecErrors)
    def _spec_errors(exc: SpecErrors) -> Any:
        return problem(422, str(exc), errors=[e.as_dict() for e in exc.errors])

    @app.errorhandler(SpecError)
    def _spec_error(exc: SpecError) -> Any:
        return problem(422, str(exc), errors=[exc.as_dict()])

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        response = problem(exc.code or 500, exc.description or exc.name)
        if exc.code == 405:  # the methods the URL does take
            response.headers["Allow"] = exc.get_response().headers.get("Allow", "")
        return response

    @app.errorhandler(DBAPIError)
    @app.errorhandler(TimeoutError)
    def _database(exc: Exception) -> Any:
        if not database_unavailable(exc):
            raise exc
        log.warning("answered 503: the database is unavailable: %s", exc)
        response = problem(503, DATABASE_UNAVAILABLE)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Any:
        # A document parsed or walked recursively somewhere below: its nesting is the cause.
        return problem(400, "the request is nested too deeply to be read")
