"""JSON errors that name the field and the reason."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from schemas.errors import SpecError, SpecErrors


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, **extra}}


def register(app: Flask) -> None:
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
