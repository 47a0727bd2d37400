"""Who may use the server: a Bearer token (the server's `AXON_API_TOKEN`, a user's personal
access token, or on the tracking endpoints a run's own), or a login that sets a session.

Features: every route's need is declared in ci.identity.policy and enforced here, before the
view, by ci.identity.enforce; only webhook intake (each delivery is signature-checked), the login
and `/healthz` are open. The browser way in is `/login`: a token once, then a signed, HttpOnly,
SameSite=Strict session cookie that is valid for pages only, so a cross-site request can never
drive the API. With no API token set and no user made yet (the loopback embedded default before
its first start, see `require_api_token`) everything is open.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from ci import runtime
from ci.api.errors import ApiError
from ci.config import Settings
from ci.identity import audit, credentials, enforce, policy
from ci.identity.reach import Principal

blueprint = Blueprint("access", __name__)

SESSION_LIFETIME = timedelta(hours=12)
UNSAFE_NEXT = ("//", "/\\")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes whose requests go on to a run's service (ci.api.service_proxy): its pages post without
# Axon's form token, and its scripts' requests want a 401, not the login page.
FORWARDED = frozenset({"service_proxy.forward"})
BEARER = "Authorization: Bearer <AXON_API_TOKEN or an access token>"


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


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without making a signer for a request with no session
    cookie: Flask makes one for every request, and webhook deliveries and API calls, the
    busiest, never carry the cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        cookies = "HTTP_COOKIE" in request.environ  # read before parsing: most requests have none
        if app.secret_key and not (cookies and request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask, settings: Settings, secret_key: bytes) -> None:
    """Sign sessions with the secret key and put every request behind `_guard`."""
    app.secret_key = secret_key
    app.session_interface = CookieSessions()
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
    app.after_request(_audit)


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


def _principal(rule: policy.Rule) -> Principal | None:
    """Who asks: a Bearer token (a run's own only where the rule takes it), else, for pages,
    the login session; None for nobody."""
    given = credentials.bearer()
    found = None
    if given and rule.need == "run_token":
        found = credentials.from_run_token(given, (request.view_args or {}).get("uuid"))
    if given and found is None:
        found = credentials.from_token(given)
    if found is not None or request.path.startswith("/api/"):
        return found
    found = credentials.from_session()
    if found is not None and request.method not in SAFE_METHODS and not _same_origin_ok():
        raise ApiError(403, "the form's csrf_token is missing or stale: reload the page")
    return found


def _same_origin_ok() -> bool:
    """Whether an unsafe request on the session comes from this server's own pages. A
    forwarded route cannot expect Axon's form token: there the SameSite=Strict cookie already
    keeps other sites' requests out, and a browser's Origin, when sent, must be this server."""
    if request.endpoint not in FORWARDED:
        return _csrf_ok()
    return origin_is_ours()


def origin_is_ours() -> bool:
    """Whether the request's Origin, when a browser sent one, is this server."""
    origin = request.headers.get("Origin")
    # Behind a TLS-terminating proxy the request reads http://, the browser's Origin https://.
    public = urlsplit(runtime.get().settings.public_url)
    ours = {request.host_url.rstrip("/"), f"{public.scheme}://{public.netloc}"}
    return origin is None or origin in ours


def _guard() -> Any:
    rule = policy.rule_for(request.endpoint)
    if rule.need == "public":
        return None
    # On an open server a token still says who asks (their scopes, the audit log's name).
    principal = _principal(rule)
    if principal is None and credentials.is_open():
        principal = credentials.OPEN
    if principal is None:
        if rule.need == "run_token":
            raise ApiError(401, "a valid run token or access token is required: " + BEARER)
        if request.path.startswith("/api/"):
            raise ApiError(401, "the API requires a token: " + BEARER)
        navigating = request.headers.get("Sec-Fetch-Mode") == "navigate"
        if request.method in ("GET", "HEAD") and (request.endpoint not in FORWARDED or navigating):
            return redirect(url_for("access.login", next=request.full_path.rstrip("?")))
        raise ApiError(401, "log in at /login or send " + BEARER)
    g.axon_principal = principal
    enforce.check(principal, rule, request.view_args or {})
    return None


def _audit(response: Response) -> Response:
    principal = enforce.current()
    rule = policy.rule_for(request.endpoint)
    if principal is not None and rule.audited and request.method not in SAFE_METHODS:
        if response.status_code < 400:
            audit.record(
                principal, request.endpoint or "", request.view_args or {}, response.status_code
            )
    return response


def _safe_next(value: str | None) -> str:
    # Only a path on this server: an absolute or scheme-relative URL would be an open redirect.
    if not value or not value.startswith("/") or value.startswith(UNSAFE_NEXT):
        return "/"
    return value


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = _safe_next(request.values.get("next"))
    if credentials.is_open():
        return redirect(target)
    if request.method == "GET":
        ended = session.pop(credentials.ENDED, None)
        return render_template("login.html", next=target, error=ended)
    try:
        principal = credentials.from_token(request.form.get("token", "").strip())
    except ApiError as exc:  # a disabled user's token: say so
        return render_template("login.html", next=target, error=exc.message), exc.status
    if principal is None:
        error = "That is not the API token or a valid access token."
        return render_template("login.html", next=target, error=error), 401
    session.clear()
    session.permanent = True
    credentials.remember(principal)
    audit.record(principal, "access.login", {}, 302)
    return redirect(target)


@blueprint.post("/logout")
def logout() -> Any:
    # Public, so a stale form still logs out; the token stops another site logging one out.
    signed_in = session.get("auth") or session.get("token_id") or session.get("user_id")
    if signed_in and not _csrf_ok():
        raise ApiError(403, "the form's csrf_token is missing or stale: reload the page")
    session.clear()
    return redirect(url_for("access.login"))
