"""A real OpenID Connect provider on loopback, built with Authlib's authorization-server
components: discovery, a JWKS, a username/password login form, the authorization code grant
with PKCE and ID tokens signed RS256.

`mistake` makes it misbehave the way a hostile or broken provider would: "audience" signs a
token for another client, "nonce" one for another sign-in, "expired" one whose time is up,
"tampered" changes a claim after signing.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from ci import runtime
from tests.live import Served

CLIENT_ID = "axon-dashboard"
CLIENT_SECRET = "axon-dashboard-secret"
KEY_ID = "test-key-1"
LOGIN_FORM = """<!doctype html><title>Provider login</title><link rel="icon" href="data:,">
<form method="post"><input name="username"><input name="password" type="password">
<button type="submit">Sign in</button></form>"""


@dataclass
class Person:
    sub: str
    username: str
    password: str
    email: str
    email_verified: bool = True


@dataclass
class Client(ClientMixin):
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in ("openid", "email", "profile"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, CLIENT_SECRET)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    person: Person
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return ""

    def get_amr(self) -> list[str]:
        return []


class Provider:
    """The provider's state: its people, the Axon callback it accepts, codes given out."""

    def __init__(self) -> None:
        self.url = ""
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig"})
        self.people: dict[str, Person] = {}
        self.codes: dict[str, Code] = {}
        self.client = Client(redirect_uris=[])
        self.mistake: str | None = None

    def add(self, username: str, email: str, *, sub: str | None = None, verified: bool = True):
        person = Person(sub or f"sub-{username}", username, f"{username}-pw", email, verified)
        self.people[username] = person
        return person

    def app(self) -> Flask:
        app = Flask("oidc_provider")
        app.secret_key = secrets.token_bytes(16)
        server = AuthorizationServer(app, query_client=self._client, save_token=lambda *_: None)
        server.register_grant(_codes(self), [CodeChallenge(required=True), _openid(self)()])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=self.url,
                authorization_endpoint=f"{self.url}/authorize",
                token_endpoint=f"{self.url}/token",
                jwks_uri=f"{self.url}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize() -> Any:
            person = self.people.get(request.form.get("username", ""))
            grant = server.get_consent_grant(end_user=person)  # refuses a bad request
            if request.method == "GET":
                return LOGIN_FORM
            if person is None or person.password != request.form.get("password"):
                return LOGIN_FORM, 401
            return server.create_authorization_response(grant=grant, grant_user=person)

        @app.post("/token")
        def token() -> Any:
            response: Response = server.create_token_response()
            if self.mistake == "tampered" and response.status_code == 200:
                body = response.get_json()
                body["id_token"] = _tampered(body["id_token"])
                response.set_data(json.dumps(body))
            return response

        return app

    def _client(self, client_id: str) -> Client | None:
        return self.client if client_id == CLIENT_ID else None


def _codes(provider: Provider) -> type[grants.AuthorizationCodeGrant]:
    class Codes(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, request: Any) -> None:
            payload = request.payload
            provider.codes[code] = Code(
                code,
                request.user,
                payload.redirect_uri,
                request.scope,
                payload.data.get("nonce"),
                payload.data.get("code_challenge"),
                payload.data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            return provider.codes.get(code)

        def delete_authorization_code(self, authorization_code: Code) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> Person:
            return authorization_code.person

    return Codes


def _openid(provider: Provider) -> type[OpenIDCode]:
    class OpenID(OpenIDCode):
        def exists_nonce(self, nonce: str, request: Any) -> bool:
            return any(c.nonce == nonce for c in provider.codes.values())

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return provider.key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": KEY_ID}

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            now = int(time.time())
            claims = {"iss": provider.url, "aud": [CLIENT_ID], "exp": now + 300}
            if provider.mistake == "audience":
                # Named the authorized party, as a token another client was given may be.
                claims.update(aud=["another-client"], azp=CLIENT_ID)
            if provider.mistake == "expired":
                claims.update(iat=now - 3600, exp=now - 600)
            return claims

        def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
            claims = super().get_authorization_code_claims(authorization_code)
            if provider.mistake == "nonce":
                claims["nonce"] = "another-sign-ins-nonce"
            return claims

        def generate_user_info(self, user: Person, scope: str) -> UserInfo:
            return UserInfo(
                sub=user.sub,
                preferred_username=user.username,
                email=user.email,
                email_verified=user.email_verified,
            )

    return OpenID


def _tampered(id_token: str) -> str:
    """The token with its `sub` changed and the provider's signature kept."""
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "sub-someone-else"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


@contextmanager
def running(host: str = "127.0.0.1") -> Iterator[Provider]:
    """The provider served on a loopback port; `url` is its issuer, named by `host` (a browser
    takes `localhost` and `127.0.0.1` for two sites, as a real provider's would be)."""
    provider = Provider()
    server = make_server("127.0.0.1", 0, provider.app(), threaded=True)
    provider.url = f"http://{host}:{server.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(timeout=10)


def configure(site: Served, **oidc: object) -> None:
    """Serve `site` with these sign-in settings; none: sign-in with a provider off."""
    values = {
        "public_url": site.url,
        "oidc_issuer": "",
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_provider_name": "Test ID",
        "oidc_match_email": False,
        **oidc,
    }
    runtime.get().settings = site.settings.model_copy(update=values)
