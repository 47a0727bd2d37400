"""The static `Authorization` header container registries send in place of a signature.

Registries sign nothing: Docker Distribution and Harbor send a header fixed in their own
configuration, so a receiver can only check that the header carries the shared secret. Over
TLS that proves who sent a delivery; it does not prove the body is unchanged, and a leaked
header can be replayed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from schemas.errors import SignatureError
from webhooks.base import lower_keys
from webhooks.signatures import require_secret, same


def check_token(headers: Mapping[str, str], secret: str) -> None:
    """Accept `Authorization: Bearer <secret>`, or Basic credentials whose "user:password" is
    the secret; raise SignatureError with the reason otherwise."""
    value = _authorization(headers, secret, "'Bearer <token>' or Basic credentials")
    scheme, _, credentials = value.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        if not same(credentials, secret):
            raise SignatureError("Authorization bearer token does not match the source's secret")
        return
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureError("Authorization basic credentials are not base64") from exc
        if not same(decoded, secret):
            raise SignatureError("Authorization basic credentials do not match the source's secret")
        return
    raise SignatureError(f"Authorization scheme {scheme!r} is neither Bearer nor Basic")


def check_header(headers: Mapping[str, str], secret: str) -> None:
    """Accept an `Authorization` header equal to the secret, whatever its scheme."""
    value = _authorization(headers, secret, "the auth header configured at the sender")
    if not same(value, secret):
        raise SignatureError("Authorization header does not match the source's secret")


def _authorization(headers: Mapping[str, str], secret: str, expected: str) -> str:
    require_secret(secret)
    value = lower_keys(headers).get("authorization", "").strip()
    if not value:
        raise SignatureError(f"missing Authorization header: expected {expected}")
    return value
