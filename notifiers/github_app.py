"""GitHub App installation auth: a JWT signed with the app's key buys an installation token.

Features:
- A JWT (RS256; iss the app id, iat a minute back for clock drift, exp nine minutes ahead,
  under GitHub's ten) signs POST /app/installations/{id}/access_tokens.
- The installation is configured, or looked up per repository (GET /repos/{o}/{r}/installation)
  and remembered.
- Installation tokens are cached per process until five minutes before they expire, and
  dropped when GitHub answers 401 to one (see GitHubApi).
- RS256 needs the `cryptography` package; without it, App auth is a PermanentError saying so,
  and token auth works as before.
- The private key, the JWT and the tokens never appear in an error.

Config: app_id; app_private_key (the PEM text, with real or `\\n` newlines, or a path to the
PEM file); app_installation_id (optional).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from notifiers import http
from notifiers.base import PermanentError

Signer = Callable[[bytes], bytes]
API_VERSION = "2022-11-28"
JWT_BACKDATE = 60  # GitHub's advice: allow for the clocks to drift
JWT_LIFETIME = 540  # GitHub refuses a JWT that lives longer than ten minutes
RENEW_BEFORE = 300  # an installation token is renewed this long before it expires

_lock = threading.Lock()
# (api_url, app_id, installation_id) -> (token, expires at, as a unix time)
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
# (api_url, app_id, "owner/repo") -> installation id
_installations: dict[tuple[str, str, str], str] = {}


def rs256(private_key: str) -> Signer:
    """A function signing bytes with `private_key` (PEM) as RS256, i.e. RSASSA-PKCS1-v1_5."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_private_key(_pem(private_key).encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        # The loader's message could quote the key: say only what is wrong.
        raise PermanentError("github app: the private key is not an RSA key in PEM")
    return lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def forget_tokens() -> None:
    """Drop every cached installation and token (tests; a rotated key)."""
    with _lock:
        _tokens.clear()
        _installations.clear()


class GitHubApp:
    """Installation tokens for one GitHub App on one GitHub (or GitHub Enterprise) API."""

    def __init__(
        self,
        api_url: str,
        app_id: str,
        private_key: str,
        installation_id: str = "",
        timeout: float = 10,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.app_id = str(app_id)
        self.installation_id = str(installation_id or "")
        self.timeout = timeout
        self._private_key = private_key
        self._signer: Signer | None = None
        self._secrets: list[str] = []

    def __repr__(self) -> str:
        return f"GitHubApp(api_url={self.api_url!r}, app_id={self.app_id!r})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every JWT and token this object has handled, for masking in errors."""
        return tuple(self._secrets)

    def token(self, owner: str, repo: str) -> str:
        """An installation token for the app's installation on owner/repo, cached."""
        installation = self.installation_id or self._installation(owner, repo)
        key = (self.api_url, self.app_id, installation)
        with _lock:
            cached = _tokens.get(key)
        if cached and cached[1] - RENEW_BEFORE > time.time():
            self._secrets.append(cached[0])
            return cached[0]
        answer = self._call("POST", f"/app/installations/{quote(installation)}/access_tokens")
        token, expires_at = str(answer.get("token", "")), _unix_time(answer.get("expires_at"))
        if not token:
            raise PermanentError(f"github app {self.app_id}: no token in GitHub's answer")
        self._secrets.append(token)
        with _lock:
            _tokens[key] = (token, expires_at)
        return token

    def forget(self, token: str) -> None:
        """Drop `token` from the cache: GitHub no longer takes it."""
        with _lock:
            for key, (cached, _) in list(_tokens.items()):
                if cached == token:
                    del _tokens[key]

    def jwt(self) -> str:
        """A fresh JWT identifying the app."""
        if self._signer is None:
            self._signer = rs256(self._private_key)
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT"}
        claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": self.app_id}
        signing_input = f"{_b64_json(header)}.{_b64_json(claims)}"
        signature = _b64(self._signer(signing_input.encode("ascii")))
        token = f"{signing_input}.{signature}"
        self._secrets.append(token)
        return token

    def _installation(self, owner: str, repo: str) -> str:
        key = (self.api_url, self.app_id, f"{owner}/{repo}")
        with _lock:
            known = _installations.get(key)
        if known:
            return known
        path = f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/installation"
        found = str(self._call("GET", path, missing=f"is not installed on {owner}/{repo}")["id"])
        with _lock:
            _installations[key] = found
        return found

    def _call(self, method: str, path: str, missing: str = "") -> dict:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {self.jwt()}",
        }
        with http.new_session(headers) as session:
            response = http.request(
                session,
                method,
                self.api_url + path,
                what=f"github app {self.app_id}",
                timeout=self.timeout,
                secrets=self.secrets,
                accept=(404,) if missing else (),
            )
        if response.status_code == 404:
            raise PermanentError(f"github app {self.app_id} {missing}", 404)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise PermanentError(
                f"github app {self.app_id}: GitHub's answer is not an object", response.status_code
            )
        return answer


def _pem(private_key: str) -> str:
    text = private_key.strip()
    if text and not text.startswith("-----BEGIN"):
        try:
            return Path(text).expanduser().read_text()
        except OSError:
            raise PermanentError(
                "github app: app_private_key is neither a PEM nor a readable file"
            ) from None
    return text.replace("\\n", "\n")  # a PEM squeezed into one environment variable line


def _unix_time(value: object) -> float:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return time.time() + 3000  # GitHub's tokens live an hour; assume less when it does not say


def _b64_json(value: dict) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
