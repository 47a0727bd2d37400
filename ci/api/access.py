"""Who may use the server: the API token as a Bearer header, or a login that sets a session.

Features: with `AXON_API_TOKEN` set, every API route and page needs it; only webhook intake (each
delivery is signature-checked), the tracking endpoints (a run token) and `/healthz` stay open.
The browser way in is `/login`: the token once, then a signed, HttpOnly, SameSite=Strict session
cookie that is valid for pages only, so a cross-site request can never drive the API.
Without a token (the loopback embedded default, see `require_api_token`) everything is open.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for

from ci import runtime
from ci.api.errors import ApiError
from ci.config import Settings

blueprint = Blueprint("access", __name__)

# Reachable without the API token: each checks a credential of its own or shows nothing.
PUBLIC_ENDPOINTS = frozenset({"health", "access.login", "access.logout"})
# The tracking endpoints take a run's own token as well as the API token (ci.api.tracking);
# the dashboard's scripts and styles hold nothing secret, and the login page needs them.
PUBLIC_BLUEPRINTS = frozenset({"webhooks", "tracking", "assets"})
SESSION_LIFETIME = timedelta(hours=12)
UNSAFE_NEXT = ("//", "/\\")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class MissingApiToken(RuntimeError):
    """A server that would answer the network with nobody's credentials checked."""


def require_api_token(settings: Settings, serving: str, host: str | None = None) -> None:
    """Refuse to serve without `AXON_API_TOKEN`, except embedded on a loopback address.

    `host` is the address the server binds; None when the caller cannot know it (gunicorn
    `wsgi:app` binds wherever its command line says), which counts as reachable.
    """
    if settings.api_token:
        return
    if settings.embedded and host is not None and is_loopback(host):
        return
    where = f"on {host}" if host is not None else "on the address gunicorn binds"
    raise MissingApiToken(
        f"AXON_API_TOKEN is not set: {serving} would serve the API and the run pages {where} "
        "to anyone who reaches it, and a subscription runs commands on the worker host. Set "
        "AXON_API_TOKEN to a long random value (e.g. `openssl rand -hex 32`); only the embedded "
        "default on a loopback address runs without one."
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere


def init_app(app: Flask, settings: Settings, secret_key: bytes) -> None:
    """Sign sessions with the secret key and put every request behind `_guard`."""
    app.secret_key = secret_key
    app.config.update(
        SESSION_COOKIE_NAME="axon_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.register_blueprint(blueprint)
    app.add_template_global(csrf_token)
    app.before_request(_guard)


def _token() -> str:
    return runtime.get().settings.api_token


def _fingerprint(token: str) -> str:
    """What the session keeps: a new token ends every session made with the old one."""
    key = runtime.get().secret_key
    return hmac.new(key, f"session:{token}".encode(), hashlib.sha256).hexdigest()


def _bearer_ok(token: str) -> bool:
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), token.encode())


def _session_ok(token: str) -> bool:
    kept = session.get("auth")
    return isinstance(kept, str) and hmac.compare_digest(kept, _fingerprint(token))


def _is_public() -> bool:
    if request.blueprint in PUBLIC_BLUEPRINTS or request.path.startswith("/webhooks/"):
        return True
    return request.endpoint in PUBLIC_ENDPOINTS


def csrf_token() -> str:
    """The session's form token: a page's POST form carries it back (`csrf_token` field or
    the X-CSRF-Token header), so another site cannot submit a form on a user's behalf."""
    kept = session.get("csrf")
    if not isinstance(kept, str):
        kept = session["csrf"] = secrets.token_urlsafe(32)
    return kept


def _csrf_ok() -> bool:
    kept = session.get("csrf")
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    return isinstance(kept, str) and hmac.compare_digest(given.encode(), kept.encode())


def _guard() -> Any:
    token = _token()
    if not token or _is_public() or _bearer_ok(token):
        return None
    if request.path.startswith("/api/"):
        raise ApiError(401, "the API requires a token: Authorization: Bearer <AXON_API_TOKEN>")
    if _session_ok(token):
        if request.method not in SAFE_METHODS and not _csrf_ok():
            raise ApiError(403, "the form's csrf_token is missing or stale: reload the page")
        return None
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("access.login", next=request.full_path.rstrip("?")))
    raise ApiError(401, "log in at /login or send Authorization: Bearer <AXON_API_TOKEN>")


def _safe_next(value: str | None) -> str:
    # Only a path on this server: an absolute or scheme-relative URL would be an open redirect.
    if not value or not value.startswith("/") or value.startswith(UNSAFE_NEXT):
        return "/"
    return value


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    token = _token()
    target = _safe_next(request.values.get("next"))
    if not token:
        return redirect(target)
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return render_template("login.html", next=target, error="That is not the API token."), 401
    session.clear()
    session.permanent = True
    session["auth"] = _fingerprint(token)
    return redirect(target)


@blueprint.post("/logout")
def logout() -> Any:
    # Public, so a stale form still logs out; the token stops another site logging one out.
    if session.get("auth") and not _csrf_ok():
        raise ApiError(403, "the form's csrf_token is missing or stale: reload the page")
    session.clear()
    return redirect(url_for("access.login"))
