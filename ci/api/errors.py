"""JSON errors that name the field and the reason."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError
from werkzeug.exceptions import HTTPException

from schemas.errors import SpecError, SpecErrors
from schemas.limits import MAX_DEPTH, document_problem

log = logging.getLogger(__name__)
DATABASE_UNAVAILABLE = "the database cannot be reached; nothing was stored, retry later"
RETRY_AFTER_SECONDS = 30


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, **extra}}


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
        return jsonify(error_body(exc.status, exc.message, **exc.extra)), exc.status

    @app.errorhandler(SpecErrors)
    def _spec_errors(exc: SpecErrors) -> Any:
        details = [e.as_dict() for e in exc.errors]
        return jsonify(error_body(422, str(exc), errors=details)), 422

    @app.errorhandler(SpecError)
    def _spec_error(exc: SpecError) -> Any:
        return jsonify(error_body(422, str(exc), errors=[exc.as_dict()])), 422

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = exc.code or 500
        return jsonify(error_body(code, exc.description or exc.name)), code

    @app.errorhandler(DBAPIError)
    @app.errorhandler(TimeoutError)
    def _database(exc: Exception) -> Any:
        if not database_unavailable(exc):
            raise exc
        log.warning("answered 503: the database is unavailable: %s", exc)
        response = jsonify(error_body(503, DATABASE_UNAVAILABLE))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, 503

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Any:
        # A document parsed or walked recursively somewhere below: its nesting is the cause.
        message = "the request is nested too deeply to be read"
        return jsonify(error_body(400, message)), 400
