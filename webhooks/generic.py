"""Generic signed webhooks: any sender that can sign a JSON body can start runs.

Features: `X-Axon-Signature: sha256=<hex HMAC-SHA256(secret, "<delivery>.<timestamp>.<body>")>`
with `X-Axon-Delivery: <delivery id>` (1-128 letters, digits, `.`, `_`, `:` or `-`) and
`X-Axon-Timestamp: <unix seconds>`, as Standard Webhooks and Stripe sign theirs. The delivery
id and the timestamp are signed with the body, so a captured delivery can neither be replayed
under another id nor later: a timestamp more than 300 s from now is refused. `sign()` makes the
headers for senders. The body is one JSON object whose keys are Event field names: `kind`
(required, one of the Event kinds), string fields such as `repo`, `ref`, `sha`, `image`,
booleans `created`/`deleted`/`forced`, `changed_paths` a list of paths, `pull_request` an
object with `number` and `action`. `provider` is always "generic"; every key, known or not,
stays in `raw`.
Dedupe key: `X-Axon-Delivery` (signed). Only with `allow_legacy_signatures`, a delivery with no
`X-Axon-Delivery` may be signed the old way, over `"<timestamp>." + body`; its key is then the
body's sha256, because nothing else it carries is signed.
Config: the source's `secret` and `allow_legacy_signatures`; `clock` (seconds since the epoch,
for tests).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any

from schemas.errors import PayloadError, SignatureError
from schemas.event import Event, PullRequest
from webhooks.base import WebhookProvider, lower_keys
from webhooks.signatures import hmac_hex, require_secret, same

MAX_SKEW_SECONDS = 300
KINDS = ("push", "tag", "pull_request", "comment", "release", "registry", "schedule", "ping")
# Fields the sender may not set: the provider is this module, and raw is the body itself.
RESERVED = frozenset({"kind", "provider", "raw", "changed_paths", "pull_request"})


# No spaces, braces or quotes: "<delivery>.<timestamp>.<body>" can then be split only one way
# that yields a JSON object, so no signed message doubles as another delivery's.
DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]+")


def _digest(secret: str, body: bytes, timestamp: str, delivery: str | None) -> str:
    signed = timestamp.encode() + b"." + body
    if delivery is not None:
        signed = delivery.encode() + b"." + signed
    return hmac_hex(secret, signed)


def sign(
    secret: str, body: bytes, timestamp: int | None = None, delivery: str | None = None
) -> dict[str, str]:
    """The headers that make `body` a verifiable generic delivery.

    `timestamp` defaults to now and `delivery` to a new random id; a sender retrying one
    delivery passes its id again, so the retry is recognised as a duplicate.
    """
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    delivery = uuid.uuid4().hex if delivery is None else delivery
    return {
        "X-Axon-Delivery": delivery,
        "X-Axon-Timestamp": stamp,
        "X-Axon-Signature": f"sha256={_digest(secret, body, stamp, delivery)}",
    }


class GenericProvider(WebhookProvider):
    name = "generic"
    delivery_header = "X-Axon-Delivery"

    def __init__(
        self, allow_legacy_signatures: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(allow_legacy_signatures)
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        require_secret(secret)
        h = lower_keys(headers)
        if "x-axon-signature" not in h:
            raise SignatureError("missing X-Axon-Signature header")
        stamp = h.get("x-axon-timestamp", "").strip()
        if not stamp:
            raise SignatureError("missing X-Axon-Timestamp header")
        if not stamp.isascii() or not stamp.isdigit():
            raise SignatureError(f"X-Axon-Timestamp is not unix seconds: {stamp[:40]!r}")
        delivery = self._signed_delivery(h)
        given = h["x-axon-signature"].strip()
        expected = f"sha256={_digest(secret, body, stamp, delivery)}"
        if not same(given.lower(), expected):
            signed = (
                "the timestamp and body" if delivery is None else "the delivery, timestamp and body"
            )
            raise SignatureError(f"X-Axon-Signature does not match {signed}")
        skew = int(stamp) - self.clock()
        if abs(skew) > MAX_SKEW_SECONDS:
            when = "ahead of" if skew > 0 else "behind"
            raise SignatureError(
                f"X-Axon-Timestamp is {abs(skew):.0f} s {when} this server's clock; more than "
                f"{MAX_SKEW_SECONDS} s is refused as a possible replay"
            )

    def _signed_delivery(self, h: Mapping[str, str]) -> str | None:
        """The delivery id the signature covers; None for the old scheme, which signs none."""
        if "x-axon-delivery" not in h:
            if self.allow_legacy_signatures:
                return None
            raise SignatureError("missing X-Axon-Delivery header (it is signed with the body)")
        delivery = h["x-axon-delivery"].strip()
        if not DELIVERY_ID.fullmatch(delivery):
            raise SignatureError(
                "X-Axon-Delivery may hold only letters, digits, '.', '_', ':' and '-', "
                f"not {delivery[:40]!r}"
            )
        return delivery

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        # Stripped as verify() read it, so the key is the id the signature covers.
        return lower_keys(headers).get("x-axon-delivery", "").strip() or None

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        payload = self.decode(headers, body)
        if not isinstance(payload, dict):
            raise PayloadError("generic: body is not a JSON object")
        kind = payload.get("kind")
        if kind is None:
            raise PayloadError("generic: field 'kind' missing")
        if kind not in KINDS:
            raise PayloadError(f"generic: field 'kind' is {kind!r}, not one of {', '.join(KINDS)}")
        where = f"generic {kind}"
        values = _scalars(Event, payload, where, "", skip=RESERVED)
        return [
            Event(
                kind=kind,
                provider="generic",
                changed_paths=_paths(payload.get("changed_paths"), where),
                pull_request=_pull_request(payload.get("pull_request"), where),
                raw=dict(payload),
                **values,
            )
        ]


def _scalars(
    cls: type, data: Mapping[str, Any], where: str, at: str, skip: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The string and boolean fields of dataclass `cls` present in `data`, type-checked.

    Read from the dataclass, so a field added to Event is accepted without a change here.
    """
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in skip or f.name not in data or f.default is MISSING:
            continue
        value, expected = data[f.name], type(f.default)
        if expected not in (str, bool) or value is None:
            continue
        if type(value) is not expected:
            noun = "a string" if expected is str else "true or false"
            raise PayloadError(f"{where}: field '{at}{f.name}' must be {noun}, not {value!r}")
        values[f.name] = value
    return values


def _string_list(value: Any, where: str, dotted: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PayloadError(f"{where}: field '{dotted}' must be a list of strings")
    return tuple(value)


def _paths(value: Any, where: str) -> tuple[str, ...] | None:
    # Absent means "not listed", which path filters treat differently from "none changed".
    return None if value is None else _string_list(value, where, "changed_paths")


def _pull_request(value: Any, where: str) -> PullRequest | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}: field 'pull_request' must be an object")
    number = value.get("number")
    if type(number) is not int:
        raise PayloadError(f"{where}: field 'pull_request.number' must be an integer")
    action = value.get("action")
    if not isinstance(action, str) or not action:
        raise PayloadError(f"{where}: field 'pull_request.action' missing")
    labels = value.get("labels")
    return PullRequest(
        number=number,
        action=action,
        labels=() if labels is None else _string_list(labels, where, "pull_request.labels"),
        **_scalars(PullRequest, value, where, "pull_request.", skip=frozenset({"action"})),
    )
