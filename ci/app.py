"""The Flask app factory."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, jsonify, request

from ci import runtime
from ci.api import (
    deliveries,
    errors,
    notifications,
    pages,
    resources,
    runs,
    specs,
    subscriptions,
    webhooks,
)
from ci.api.errors import ApiError
from ci.config import Settings

# Endpoints a job calls with its own run token instead of the API token.
RUN_TOKEN_ENDPOINTS = {"runs.log_outputs"}


def create_app(settings: Settings | None = None) -> Flask:
    rt = runtime.init(settings)
    app = Flask(__name__, template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = rt.settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register(app)
    for module in (
        webhooks,
        resources,
        subscriptions,
        runs,
        notifications,
        deliveries,
        specs,
        pages,
    ):
        app.register_blueprint(module.blueprint)

    @app.before_request
    def _require_api_token() -> None:
        token = rt.settings.api_token
        if not token or not request.path.startswith("/api/"):
            return
        if request.endpoint in RUN_TOKEN_ENDPOINTS:
            return
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "the API requires a token: Authorization: Bearer <AXON_API_TOKEN>")

    @app.get("/healthz")
    def _health() -> Any:
        return jsonify({"status": "ok"})

    return app
