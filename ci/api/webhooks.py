"""`POST /webhooks/<provider>/<source>`: verify, commit, answer; the work happens in a task."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from ci import intake, runtime
from schemas.errors import UnknownPlugin
from webhooks.registry import providers

blueprint = Blueprint("webhooks", __name__)


def _sources() -> intake.SourceCache:
    # One cache per app: a new app (a test, a reload) starts from the database.
    return current_app.extensions.setdefault("axon.sources", intake.SourceCache())


@blueprint.post("/webhooks/<provider_name>/<source_name>")
def receive(provider_name: str, source_name: str) -> Any:
    rt = runtime.get()
    headers = dict(request.headers.items())
    try:
        provider_cls = providers.load(provider_name)
    except UnknownPlugin as exc:
        return _answer(404, "unknown_provider", str(exc), known=providers.names())
    source = _sources().get(rt.db, provider_name, source_name)
    if source is None:
        reason = f"no {provider_name} source named {source_name!r}"
        intake.record_rejection(rt.db, provider_name, None, headers, reason)
        return _answer(404, "unknown_source", reason)
    cap = rt.settings.max_body_bytes
    if request.content_length is not None and request.content_length > cap:
        reason = f"body of {request.content_length} bytes is over the {cap}-byte limit"
        intake.record_rejection(rt.db, provider_name, source, headers, reason)
        return _answer(413, "too_large", reason)
    body = request.get_data(cache=False)
    provider = provider_cls(allow_legacy_signatures=source.allow_legacy_signatures)
    outcome = intake.receive(rt.db, provider, source, headers, body)
    if outcome.state == "unknown_source":
        _sources().forget(provider_name, source_name)
    return _answer(outcome.status, outcome.state, outcome.message, delivery=outcome.delivery_id)


def _answer(status: int, state: str, message: str, **extra: Any) -> Any:
    return jsonify({"status": state, "message": message, **extra}), status
