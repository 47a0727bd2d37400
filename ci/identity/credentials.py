"""Who a request comes from: the server's API token, a personal access token, a run's token,
or the page session a login made with one of the first two."""

from __future__ import annotations

import hashlib
import hmac

from flask import request, session
from sqlalchemy import exists, select

from ci import runtime
from ci.api.errors import ApiError
from ci.identity import disabling, oidc, tokens
from ci.identity.reach import Principal
from ci.identity.tokens import Scopes
from ci.store.db import utcnow
from ci.store.models import AccessToken, User

ADMIN = Principal("admin", "the API token", is_admin=True)
# A request without credentials on an open server (`is_open`).
OPEN = Principal("admin", "nobody (an open server)", is_admin=True)
# Why a page session just ended, kept for the login page to say.
ENDED = "ended"


def is_open() -> bool:
    """Whether a request without credentials is let in as an admin: only while no API token is
    set and no user exists yet, that is the loopback embedded default before `axon serve` made
    its first admin (a server elsewhere refuses to start without a token, see
    ci.api.access.require_api_token). Once a user exists, every server checks credentials."""
    settings = runtime.get().settings
    if settings.api_token:
        return False
    with runtime.get().db.session() as db:
        return not db.scalar(select(exists().where(User.id.isnot(None))))


def _same(given: str, expected: str) -> bool:
    # Compared as bytes: compare_digest refuses str with non-ASCII characters.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def from_token(token: str) -> Principal | None:
    """The principal `token` (the API token or a personal access token) stands for; a
    disabled user's token raises ApiError(401) saying so."""
    if _same(token, runtime.get().settings.api_token):
        return ADMIN
    with runtime.get().db.session() as db:
        row = tokens.find(db, token)
        if row is None:
            return None
        if row.user.disabled_at is not None:
            raise ApiError(401, f"this token is refused: {disabling.reason(row.user)}")
        tokens.touch(db, row.id)
        return _user_principal(row)


def _user_principal(row: AccessToken) -> Principal:
    return Principal(
        "user",
        f"user {row.user.name} (token {row.prefix}…)",
        user_id=row.user_id,
        token_id=row.id,
        is_admin=row.user.is_admin,
        scopes=Scopes.parse(row.scopes),
    )


def bearer() -> str | None:
    given = request.headers.get("Authorization", "")
    return given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else None


def from_run_token(token: str, uuid: object) -> Principal | None:
    if isinstance(uuid, str) and runtime.get().check_run_token(uuid, token):
        return Principal("run", f"run {uuid}", run_uuid=uuid)
    return None


def fingerprint(token: str) -> str:
    """What a login session keeps of the API token: a new token ends the old sessions."""
    key = runtime.get().secret_key
    return hmac.new(key, f"session:{token}".encode(), hashlib.sha256).hexdigest()


def remember(principal: Principal) -> None:
    """Keep who logged in in the signed session: the API token's fingerprint, or the token id
    (checked again on each request, so revoking the token ends the session)."""
    if principal.token_id is None:
        session["auth"] = fingerprint(runtime.get().settings.api_token)
    else:
        session["token_id"] = principal.token_id


def from_session() -> Principal | None:
    kept = session.get("auth")
    api_token = runtime.get().settings.api_token
    if isinstance(kept, str) and api_token and hmac.compare_digest(kept, fingerprint(api_token)):
        return ADMIN
    user_id = session.get("user_id")  # a sign-in with OpenID Connect (ci.identity.oidc)
    if isinstance(user_id, int):
        with runtime.get().db.session() as db:
            user = db.get(User, user_id)
            if user is not None and user.disabled_at is not None:
                _end(disabling.reason(user))
                return None
            return oidc.principal_for(db, user_id)
    token_id = session.get("token_id")
    if not isinstance(token_id, int):
        return None
    with runtime.get().db.session() as db:
        row = db.get(AccessToken, token_id)
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= utcnow():
            return None
        if row.user.disabled_at is not None:
            _end(disabling.reason(row.user))
            return None
        tokens.touch(db, row.id)
        return _user_principal(row)


def _end(why: str) -> None:
    """End the page session, keeping only why, for the login page it is sent to."""
    session.clear()
    session[ENDED] = why
