"""Connections' secret values encrypted at rest with Fernet, under keys from the settings.

`AXON_SECRETS_KEY` holds one or more Fernet keys, comma-separated, newest first: a MultiFernet
encrypts with the first and decrypts with any, so a new key is put in front, `axon connections
rotate-key` re-encrypts every row with it, and the old one can then be dropped. Without the
setting the key is derived from the secret key (HKDF), so the embedded default needs nothing
set; `derived` in the list stands for that key, so `AXON_SECRETS_KEY=<new>,derived` and a
rotation move away from it.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ci.runtime import Runtime

DERIVATION = b"axon connections"
DERIVED = "derived"


class SecretsKeyError(Exception):
    """The secret values cannot be opened or sealed with the keys given; never holds a value."""


def derived_key(secret_key: bytes) -> bytes:
    """The Fernet key the embedded default uses, derived from the process's secret key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVATION)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key))


@lru_cache(maxsize=8)
def _vault(keys: str) -> MultiFernet:
    fernets = []
    for index, key in enumerate(k.strip() for k in keys.split(",")):
        try:
            fernets.append(Fernet(key))
        except ValueError:
            raise SecretsKeyError(
                f"AXON_SECRETS_KEY: key {index + 1} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; make one with Fernet.generate_key())"
            ) from None
    return MultiFernet(fernets)


def vault(rt: Runtime) -> MultiFernet:
    """The process's keys: AXON_SECRETS_KEY's, or the one derived from the secret key (which
    the word `derived` in the list also stands for, to rotate away from it)."""
    derived = derived_key(rt.secret_key).decode()
    given = [key.strip() for key in rt.settings.secrets_key.split(",") if key.strip()]
    return _vault(",".join(derived if key == DERIVED else key for key in given) or derived)


def seal(rt: Runtime, values: dict[str, str]) -> str:
    """`values` as one token, encrypted with the newest key."""
    return vault(rt).encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def unseal(rt: Runtime, token: str, what: str) -> dict[str, str]:
    """The values sealed in `token`; `what` names the row in the error when no key opens it."""
    if not token:
        return {}
    try:
        values: dict[str, str] = json.loads(vault(rt).decrypt(token.encode()))
    except InvalidToken:
        raise SecretsKeyError(
            f"{what}: no key of AXON_SECRETS_KEY opens its secret values (was the key that "
            "sealed them dropped before `axon connections rotate-key`?)"
        ) from None
    return values


def seal_text(rt: Runtime, value: str) -> str:
    """One secret text (a webhook source's) encrypted with the newest key."""
    return vault(rt).encrypt(value.encode()).decode()


def unseal_text(rt: Runtime, token: str, what: str) -> str:
    try:
        return vault(rt).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretsKeyError(f"{what}: no key of AXON_SECRETS_KEY opens its secret") from None


def reseal(rt: Runtime, token: str, what: str) -> str:
    """`token` encrypted again with the newest key (MultiFernet.rotate)."""
    if not token:
        return token
    try:
        return vault(rt).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretsKeyError(
            f"{what}: no key of AXON_SECRETS_KEY opens its secret values"
        ) from None
