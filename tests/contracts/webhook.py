"""What every webhook provider promises, whatever its forge."""

from __future__ import annotations

import pytest

from schemas.errors import PayloadError, SignatureError
from schemas.event import Event


class WebhookProviderContract:
    """Subclass and provide `provider`, `signed(body) -> headers`, and `sample` (headers, body)."""

    def test_a_correctly_signed_delivery_verifies(self, provider, signed, sample):
        _, body = sample
        provider.verify(signed(body), body, "topsecret")

    def test_a_tampered_body_is_refused(self, provider, signed, sample):
        _, body = sample
        with pytest.raises(SignatureError):
            provider.verify(signed(body), body + b" ", "topsecret")

    def test_a_missing_signature_is_refused_with_a_reason(self, provider, sample):
        _, body = sample
        with pytest.raises(SignatureError, match=r"\w"):
            provider.verify({"Content-Type": "application/json"}, body, "topsecret")

    def test_parse_returns_events(self, provider, sample):
        headers, body = sample
        events = provider.parse(headers, body)
        assert events and all(isinstance(e, Event) for e in events)
        assert all(e.provider == provider.name for e in events)

    def test_a_body_that_is_not_json_is_a_payload_error(self, provider, sample):
        headers, _ = sample
        with pytest.raises(PayloadError, match=provider.name):
            provider.parse(headers, b"{not json")
