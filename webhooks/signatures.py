"""Signature and token checks every provider shares: HMAC digests and constant-time comparison.

Header values are attacker-chosen text. Every comparison is of bytes, because
`hmac.compare_digest` raises TypeError on non-ASCII text: a header such as `sha256=é…` is
then simply a wrong signature, refused with a SignatureError like any other.
The schemes several forges share live here too: GitHub's `X-Hub-Signature-256: sha256=<hex>`
(with the legacy SHA-1 `X-Hub-Signature`), which Gitea also sends, and Bitbucket's
`X-Hub-Signature: sha256=<hex>`, which Bitbucket Cloud and Data Center both send.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

from schemas.errors import SignatureError

NO_SECRET = "the source has no secret, so no delivery can be verified"


def require_secret(secret: str) -> None:
    """Raise SignatureError if the source has no secret: nothing could then be verified."""
    if not secret:
        raise SignatureError(NO_SECRET)


def as_bytes(value: str | bytes) -> bytes:
    """`value` as UTF-8 bytes; text no encoding could carry (a lone surrogate) becomes `?`."""
    return value if isinstance(value, bytes) else value.encode("utf-8", errors="replace")


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Whether `given` equals `expected`, in time that does not reveal how much of it matched."""
    return hmac.compare_digest(as_bytes(given), as_bytes(expected))


def hmac_hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    """The hex HMAC of `message` keyed by `secret`."""
    return hmac.new(as_bytes(secret), message, algorithm).hexdigest()


def digest_matches(
    given: str,
    secret: str,
    message: bytes,
    algorithm: str = "sha256",
    prefix: str = "",
    encoding: str = "hex",
) -> bool:
    """Whether `given` is `<prefix><HMAC of message>`, in hex (either case) or base64.

    A signature without the prefix does not match; space around the digest is ignored.
    """
    if not given.startswith(prefix):
        return False
    digest = hmac.new(as_bytes(secret), message, algorithm).digest()
    value = given[len(prefix) :].strip()
    if encoding == "hex":
        return same(value.lower(), digest.hex())
    if encoding == "base64":
        return same(value, base64.b64encode(digest))
    raise ValueError(f"unknown signature encoding {encoding!r}; expected hex or base64")


def check_github_style(
    h: Mapping[str, str], body: bytes, secret: str, allow_legacy: bool = False
) -> bool:
    """Check `X-Hub-Signature-256: sha256=<hex>`, else (only if `allow_legacy`) the SHA-1
    `X-Hub-Signature: sha1=<hex>`; SignatureError if the one sent does not match.

    `h` has lower-case header names. False when neither header was sent, so the caller names
    the header it expects.
    """
    if "x-hub-signature-256" in h:
        if not digest_matches(h["x-hub-signature-256"], secret, body, "sha256", "sha256="):
            raise SignatureError("X-Hub-Signature-256 does not match the body")
        return True
    if "x-hub-signature" in h:
        if not allow_legacy:
            raise SignatureError(
                "only a SHA-1 X-Hub-Signature was sent; this source requires SHA-256"
            )
        if not digest_matches(h["x-hub-signature"], secret, body, "sha1", "sha1="):
            raise SignatureError("X-Hub-Signature does not match the body")
        return True
    return False


def check_bitbucket_style(h: Mapping[str, str], body: bytes, secret: str) -> None:
    """Raise SignatureError unless `X-Hub-Signature: sha256=<hex>` signs `body` with `secret`.

    `h` has lower-case header names.
    """
    require_secret(secret)
    signature = h.get("x-hub-signature")
    if signature is None:
        raise SignatureError("missing X-Hub-Signature header")
    if not signature.startswith("sha256="):
        raise SignatureError("X-Hub-Signature is not of the form sha256=<hex>")
    if not digest_matches(signature, secret, body, "sha256", "sha256="):
        raise SignatureError("X-Hub-Signature does not match the body")
