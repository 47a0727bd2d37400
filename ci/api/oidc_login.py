"""The dashboard's "Sign in with <provider>" (ci.identity.oidc): `/login/oidc` sends the
browser to the provider, `/login/oidc/callback` takes it back and sets the page session.

What the callback must check (state, nonce, PKCE verifier, where to go next) travels in a
signed, short-lived cookie of its own: SameSite=Lax, because the provider's redirect back is a
cross-site navigation that would not carry the Strict session cookie.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ci import runtime
from ci.api.errors import ApiError
from ci.identity import audit, oidc
from ci.identity.reach import Principal

blueprint = Blueprint("oidc_login", __name__)

COOKIE = "axon_oidc"
COOKIE_PATH = "/login/oidc"
COOKIE_SECONDS = 600
UNSAFE_NEXT = ("//", "/\\")
# Who a refused sign-in is, for the audit log: nobody proved anything.
UNVERIFIED = Principal("user", "an unverified OpenID Connect sign-in")


@blueprint.app_template_global()
def oidc_provider() -> str | None:
    """The provider's name when sign-in with it is configured (the login page's button)."""
    settings = runtime.get().settings
    return settings.oidc_provider_name if oidc.configured(settings) else None


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or b"", salt="axon.oidc-login")


def _safe_next(value: str | None) -> str:
    # Only a path on this server: an absolute or scheme-relative URL would be an open redirect.
    if not value or not value.startswith("/") or value.startswith(UNSAFE_NEXT):
        return "/"
    return value


def _refused(message: str, status: int) -> tuple[str, int]:
    return render_template("login.html", next="/", error=message), status


@blueprint.get("/login/oidc")
def start() -> Any:
    settings = runtime.get().settings
    if not oidc.configured(settings):
        raise ApiError(
            404, "sign-in with OpenID Connect is off: set AXON_OIDC_ISSUER and AXON_OIDC_CLIENT_ID"
        )
    try:
        url, kept = oidc.start(settings)
    except oidc.LoginRefused as exc:
        return _refused(f"Sign-in with {settings.oidc_provider_name} failed: {exc}.", 502)
    kept["next"] = _safe_next(request.args.get("next"))
    response: Response = redirect(url)  # type: ignore[assignment]
    response.set_cookie(
        COOKIE,
        _serializer().dumps(kept),
        max_age=COOKIE_SECONDS,
        path=COOKIE_PATH,
        secure=settings.public_url.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )
    return response


def _kept() -> dict[str, str] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        kept = _serializer().loads(raw, max_age=COOKIE_SECONDS)
    except BadSignature:
        return None
    return kept if isinstance(kept, dict) else None


@blueprint.get("/login/oidc/callback")
def callback() -> Any:
    settings = runtime.get().settings
    if not oidc.configured(settings):
        raise ApiError(
            404, "sign-in with OpenID Connect is off: set AXON_OIDC_ISSUER and AXON_OIDC_CLIENT_ID"
        )
    kept = _kept()
    try:
        identity = oidc.finish(settings, request.args.to_dict(), kept)
        with runtime.get().db.session() as db:
            user, made = oidc.user_for(db, identity, settings.oidc_match_email)
            user_id, user_name = user.id, user.name
    except oidc.LoginRefused as exc:
        audit.record(UNVERIFIED, "oidc_login.callback", {"refused": str(exc)}, 401)
        page, status = _refused(f"Sign-in with {settings.oidc_provider_name} failed: {exc}.", 401)
        response = current_app.make_response((page, status))
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response
    principal = Principal("user", f"user {user_name} (OpenID Connect)", user_id=user_id)
    audit.record(
        principal,
        "oidc_login.callback",
        {"issuer": identity.issuer, "sub": identity.subject, "new_user": made},
        200,
    )
    session.clear()
    session.permanent = True
    session["user_id"] = user_id
    target = _safe_next((kept or {}).get("next"))
    # A page, not a redirect: the way here began on the provider's site, and a browser does not
    # send the Strict session cookie along a redirect chain that crossed sites.
    response = current_app.make_response(render_template("signed_in.html", next=target))
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
