"""`POST /webhooks/<provider>/<source>`: verify, commit, answer; the work happens in a task."""

from __future__ import annotations

import dataclasses
import logging
from typing import IO, Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError, TimeoutError

from ci import runtime
from ci.api import errors
from ci.connections import crypto, signing
from ci.connections.crypto import SecretsKeyError
from ci.intake import receipt
from schemas.errors import UnknownPlugin
from webhooks.registry import providers

blueprint = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)
CHUNK = 64 * 1024


def _sources() -> receipt.SourceCache:
    # One cache per app: a new app (a test, a reload) starts from the database.
    return current_app.extensions.setdefault("axon.sources", receipt.SourceCache())


@blueprint.post("/webhooks/<provider_name>/<source_name>")
def receive(provider_name: str, source_name: str) -> Any:
    rt = runtime.get()
    headers = dict(request.headers.items())
    try:
        provider_cls = providers.load(provider_name)
    except UnknownPlugin as exc:
        return _answer(404, "unknown_provider", str(exc), known=providers.names())

    def opened(token: str) -> str:
        return crypto.unseal_text(rt, token, f"{provider_name} source {source_name!r}")

    try:
        source = _sources().get(rt.db, provider_name, source_name, opened)
    except SecretsKeyError as exc:
        # The sender is told only that it cannot be verified now; the deliveries say why.
        log.error("a %s delivery cannot be verified: %s", provider_name, exc)
        receipt.record_rejection(rt.db, provider_name, None, headers, str(exc))
        return _answer(503, "unavailable", "the source's secret cannot be read; retry later")
    if source is None:
        reason = f"no {provider_name} source named {source_name!r}"
        receipt.record_rejection(rt.db, provider_name, None, headers, reason)
        return _answer(404, "unknown_source", reason)
    if source.connection_id is not None:
        what = f"{provider_name} source {source_name!r}"
        try:
            secret = signing.opened_secret(rt, source.connection_id, what)
        except (SecretsKeyError, signing.SigningUnavailable) as exc:
            log.error("a %s delivery cannot be verified: %s", provider_name, exc)
            receipt.record_rejection(rt.db, provider_name, source, headers, str(exc))
            return _answer(503, "unavailable", "the source's secret cannot be read; retry later")
        source = dataclasses.replace(source, secret=secret)
    cap, keep = rt.settings.max_body_bytes, rt.settings.rejected_body_bytes
    if request.content_length is not None and request.content_length > cap:
        reason = f"body of {request.content_length} bytes is over the {cap}-byte limit"
        # Content-Length promises at least this much, so reading it cannot hang.
        prefix = request.input_stream.read(min(max(keep, 0), request.content_length))
        receipt.record_rejection(
            rt.db, provider_name, source, headers, reason, prefix, request.content_length, keep
        )
        return _answer(413, "too_large", reason)
    body, over = _read_body(cap)
    if over:
        reason = f"chunked body is over the {cap}-byte limit"
        receipt.record_rejection(rt.db, provider_name, source, headers, reason, body, keep=keep)
        return _answer(413, "too_large", reason)
    provider = provider_cls(allow_legacy_signatures=source.allow_legacy_signatures)
    outcome = receipt.receive(rt.db, provider, source, headers, body, keep_rejected=keep)
    if outcome.state == "unknown_source":
        _sources().forget(provider_name, source_name)
    return _answer(outcome.status, outcome.state, outcome.message, delivery=outcome.delivery_id)


def _read_body(cap: int) -> tuple[bytes, bool]:
    """The body, read at most `cap` + 1 bytes far; and whether it is longer than `cap`.

    A chunked body has no Content-Length to refuse it by, and reading it whole would cut it
    at the cap without saying so: it would then be verified, and refused, as another body.
    """
    if request.content_length is not None:
        return request.get_data(cache=False), False
    if "wsgi.input_terminated" not in request.environ:
        # Neither a length nor a server that ends the stream: nothing can be read safely.
        return b"", False
    stream: IO[bytes] = request.input_stream
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = stream.read(min(CHUNK, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), size > cap


@blueprint.errorhandler(DBAPIError)
@blueprint.errorhandler(TimeoutError)
def _database_unavailable(exc: Exception) -> Any:
    if not errors.database_unavailable(exc):
        raise exc
    # Nothing was stored: a 5xx makes GitHub and the other forges offer a redelivery.
    response = _answer(503, "unavailable", errors.DATABASE_UNAVAILABLE)
    response[0].headers["Retry-After"] = str(errors.RETRY_AFTER_SECONDS)
    return response


def _answer(status: int, state: str, message: str, **extra: Any) -> Any:
    return jsonify({"status": state, "message": message, **extra}), status
