"""Sign-in with an OpenID Connect provider: the authorization code flow with PKCE, state and
nonce, through Authlib's client; the verified `sub` (with its issuer) names an Axon user.

The provider is found from the issuer's `/.well-known/openid-configuration`; an ID token counts
only with a valid signature from the provider's published keys and `iss`, `aud`, `exp` and
`nonce` as this login expects. A first sign-in makes a user with no roles (an admin grants
them), or, with `AXON_OIDC_MATCH_EMAIL`, joins the user whose email the provider verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.flask_client.integration import FlaskIntegration
from joserfc.errors import JoseError
from requests import RequestException
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci.config import Settings
from ci.identity import disabling
from ci.identity.reach import Principal
from ci.store.db import utcnow
from ci.store.models import User, UserLogin

CALLBACK_PATH = "/login/oidc/callback"
SCOPE = "openid email profile"
TIMEOUT_SECONDS = 10.0
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# First sign-ins that lose a race for a new user's name look again this many times.
TRIES = 5


class LoginRefused(Exception):
    """A sign-in that did not prove who the person is; the message says why."""


@dataclass(frozen=True)
class Identity:
    """What a verified ID token says about the person."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def redirect_uri(settings: Settings) -> str:
    """Where the provider sends the browser back: register this URL with the provider."""
    return settings.public_url.rstrip("/") + CALLBACK_PATH


@lru_cache(maxsize=4)
def _client(issuer: str, client_id: str, client_secret: str) -> FlaskOAuth2App:
    # One per configuration: the discovery document and keys are fetched once and kept.
    return FlaskOAuth2App(
        FlaskIntegration("oidc"),
        name="oidc",
        client_id=client_id,
        client_secret=client_secret or None,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT_SECONDS,
        },
    )


def client(settings: Settings) -> FlaskOAuth2App:
    return _client(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)


def _discovered(settings: Settings) -> dict[str, Any]:
    try:
        metadata: dict[str, Any] = client(settings).load_server_metadata()
    except (RequestException, ValueError) as exc:
        raise LoginRefused(
            f"the provider's discovery document at {settings.oidc_issuer} could not be read: {exc}"
        ) from exc
    # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    if metadata.get("issuer", "").rstrip("/") != settings.oidc_issuer.rstrip("/"):
        raise LoginRefused(
            f"the provider's discovery document names issuer {metadata.get('issuer')!r}, "
            f"not AXON_OIDC_ISSUER {settings.oidc_issuer!r}"
        )
    return metadata


def start(settings: Settings) -> tuple[str, dict[str, str]]:
    """The provider's authorization URL, and what the callback needs to check the answer
    (state, nonce, PKCE verifier), to be kept in the browser's signed cookie."""
    _discovered(settings)
    created = client(settings).create_authorization_url(redirect_uri(settings))
    kept = {key: created[key] for key in ("state", "nonce", "code_verifier")}
    return created["url"], kept


def finish(settings: Settings, answer: dict[str, str], kept: dict[str, str] | None) -> Identity:
    """Check the provider's answer against what `start` kept, trade the code for tokens and
    verify the ID token; LoginRefused says what was wrong."""
    if answer.get("error"):
        detail = answer.get("error_description") or answer["error"]
        raise LoginRefused(f"the provider refused the sign-in: {detail}")
    if not kept:
        raise LoginRefused("this sign-in was not started here or took too long: start again")
    if answer.get("state") != kept.get("state"):
        raise LoginRefused("the provider's answer carries another sign-in's state: start again")
    if not answer.get("code"):
        raise LoginRefused("the provider's answer has no authorization code")
    metadata = _discovered(settings)
    app = client(settings)
    try:
        token = app.fetch_access_token(
            redirect_uri(settings), code=answer["code"], code_verifier=kept["code_verifier"]
        )
    except (OAuthError, RequestException, ValueError) as exc:
        raise LoginRefused(f"the provider did not trade the code for tokens: {exc}") from exc
    if "id_token" not in token:
        raise LoginRefused("the provider's token answer has no ID token")
    try:
        # OpenID Connect Core §3.1.3.7: `aud` must name this client (Authlib by itself checks
        # only `azp`, which a token for another client may carry).
        checks = {
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": settings.oidc_client_id},
        }
        claims = app.parse_id_token(token, nonce=kept["nonce"], claims_options=checks)
    except JoseError as exc:
        raise LoginRefused(f"the ID token is refused: {_reason(exc)}") from exc
    except ValueError as exc:
        raise LoginRefused(f"the ID token is refused: it cannot be read ({exc})") from exc
    return Identity(
        issuer=str(metadata["issuer"]),
        subject=str(claims["sub"]),
        email=str(claims.get("email") or ""),
        email_verified=claims.get("email_verified") is True,
        name=str(claims.get("preferred_username") or claims.get("name") or ""),
    )


def _reason(exc: JoseError) -> str:
    claim = getattr(exc, "claim", None)
    if exc.error == "missing_claim":
        return f"it has no {claim} claim"
    if claim == "aud":
        return "its audience (aud) is not this server's client id"
    if claim == "nonce":
        return "its nonce is not this sign-in's"
    if claim == "iss":
        return "its issuer (iss) is not AXON_OIDC_ISSUER"
    if exc.error == "expired_token":
        return "it has expired (exp)"
    if exc.error == "bad_signature":
        return "its signature does not verify with the provider's keys"
    return exc.description or exc.error


def user_for(session: Session, identity: Identity, match_email: bool) -> tuple[User, bool]:
    """The user this identity signs in as, and whether they were made just now; LoginRefused
    for a disabled user.

    Two first sign-ins at once may pick the same free name (or be the same person twice): the
    one that inserts second meets the unique constraint, undoes its savepoint and looks again,
    finding the name taken (or the other's login) now that the first has committed."""
    for _ in range(TRIES):
        try:
            with session.begin_nested():
                user, made = _user_for(session, identity, match_email)
        except IntegrityError:
            continue
        if user.disabled_at is not None:
            raise LoginRefused(disabling.reason(user))
        return user, made
    raise LoginRefused(
        f"no free user name was found in {TRIES} tries: other sign-ins took each, try again"
    )


def _user_for(session: Session, identity: Identity, match_email: bool) -> tuple[User, bool]:
    login = session.scalar(
        select(UserLogin).where(
            UserLogin.issuer == identity.issuer, UserLogin.subject == identity.subject
        )
    )
    if login is not None:
        login.last_login_at = utcnow()
        user = session.get(User, login.user_id)
        assert user is not None  # the row cascades away with its user
        return user, False
    user = None
    if match_email and identity.email and identity.email_verified:
        same = session.scalars(
            select(User).where(func.lower(User.email) == identity.email.lower()).limit(2)
        ).all()
        if len(same) > 1:
            # Emails are not unique among users: joining one of several would be a guess.
            raise LoginRefused(
                f"more than one user has the email {identity.email}: an admin must give each "
                "its own email before it can sign in"
            )
        user = same[0] if same else None
    made = user is None
    if user is None:
        user = User(name=_free_name(session, identity), email=identity.email[:256])
        session.add(user)
        session.flush()
    session.add(UserLogin(user_id=user.id, issuer=identity.issuer, subject=identity.subject))
    session.flush()
    return user, made


def _free_name(session: Session, identity: Identity) -> str:
    """A user name from the provider's username or email, made unique with a number."""
    base = identity.name or identity.email.split("@")[0] or f"oidc-{identity.subject}"
    base = NAME_UNSAFE.sub("-", base).strip("-")[:100] or "oidc-user"
    taken = set(session.scalars(select(User.name).where(User.name.like(f"{base}%"))))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def principal_for(session: Session, user_id: int) -> Principal | None:
    """The signed-in user as a principal, read again on every request; None once deleted."""
    user = session.get(User, user_id)
    if user is None:
        return None
    return Principal(
        "user", f"user {user.name} (OpenID Connect)", user_id=user.id, is_admin=user.is_admin
    )
