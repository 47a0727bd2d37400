"""The Flask app factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from ci import dashboard, runtime, wiring
from ci.api import (
    access,
    approvals,
    artifacts,
    connections,
    deliveries,
    errors,
    identity_api,
    notifications,
    oidc_login,
    openapi,
    org_presets,
    presets,
    project_runs,
    quotas,
    resources,
    run_data,
    runs,
    service_proxy,
    specs,
    subscriptions,
    tracking,
    webhooks,
)
from ci.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    rt = wiring.wire(runtime.init(settings))
    app = Flask(__name__, template_folder="dashboard/templates", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = rt.settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register(app)
    for module in (
        webhooks,
        resources,
        connections,
        subscriptions,
        runs,
        tracking,
        run_data,
        artifacts,
        approvals,
        notifications,
        deliveries,
        project_runs,
        specs,
        openapi,
        org_presets,
        presets,
        quotas,
        identity_api,
        oidc_login,
        service_proxy,
    ):
        app.register_blueprint(module.blueprint)

    dashboard.init_app(app)

    # With AXON_API_TOKEN set, only webhooks, the tracking endpoints and /healthz are open.
    access.init_app(app, rt.settings, rt.secret_key)

    @app.get("/healthz", endpoint="health")
    def _health() -> Any:
        return jsonify({"status": "ok"})

    return app
