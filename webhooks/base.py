"""The WebhookProvider interface every provider module implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qs

from schemas.errors import PayloadError
from schemas.event import Event
from schemas.limits import MAX_DEPTH, nesting_problem


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-case names: HTTP header names are case-insensitive."""
    return {k.lower(): v for k, v in headers.items()}


class WebhookProvider(ABC):
    """One forge or registry. Pure: takes headers and bytes, returns values or raises."""

    name: ClassVar[str]
    # Header naming the delivery for dedupe; None means dedupe on the body's sha256.
    delivery_header: ClassVar[str | None] = None

    def __init__(self, allow_legacy_signatures: bool = False) -> None:
        self.allow_legacy_signatures = allow_legacy_signatures

    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        """Required. Raise SignatureError with the reason unless the delivery is authentic."""

    @abstractmethod
    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        """Required. The delivery's Events (possibly none); PayloadError names a bad field."""

    def decode(self, headers: Mapping[str, str], body: bytes) -> Any:
        """Optional. The body as data; PayloadError if it is not well-formed.

        Accepts JSON and the form encoding (`payload=<json>`) that forges offer.
        """
        content_type = lower_keys(headers).get("content-type", "").split(";")[0].strip()
        text = body
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8", errors="replace"))
            if "payload" not in form:
                raise PayloadError(f"{self.name}: form body has no 'payload' field")
            text = form["payload"][0].encode()
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"{self.name}: body is not valid JSON: {exc}") from exc
        except RecursionError:
            reason = f"{self.name}: body is nested more than {MAX_DEPTH} levels deep"
            raise PayloadError(reason) from None
        too_deep = nesting_problem(data)
        if too_deep:
            raise PayloadError(f"{self.name}: body is {too_deep}")
        return data

    def event_name(self, headers: Mapping[str, str]) -> str:
        """Optional. The provider's name for the event, from its headers ("" if none)."""
        return ""

    def delivery_id(self, headers: Mapping[str, str]) -> str | None:
        """The provider's id for this delivery, if it sends one."""
        if not self.delivery_header:
            return None
        return lower_keys(headers).get(self.delivery_header.lower()) or None
