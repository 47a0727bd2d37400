"""Generic signed hooks: timestamped HMAC signatures, replay refusal, JSON bodies into Events."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from schemas.errors import PayloadError, SignatureError
from schemas.event import PullRequest
from tests.contracts.webhook import WebhookProviderContract
from webhooks.generic import GenericProvider, sign

NOW = 1_714_000_000
SECRET = "topsecret"


def at_now() -> GenericProvider:
    return GenericProvider(clock=lambda: float(NOW))


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def parse(payload: dict[str, Any], **headers: str) -> list:
    body = body_of(payload)
    return at_now().parse({"Content-Type": "application/json", **headers}, body)


PUSH = {
    "kind": "push",
    "repo": "ml/forecast",
    "ref": "refs/heads/main",
    "branch": "main",
    "sha": "9f2c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e",
    "changed_paths": ["models/lstm.py"],
    "dataset": "weather-2024",
}


def test_a_body_signed_with_its_timestamp_verifies():
    body = body_of(PUSH)
    at_now().verify(sign(SECRET, body, NOW), body, SECRET)


def test_sign_uses_the_documented_scheme():
    digest = hmac.new(b"k", b"d-1.1700000000." + b"{}", hashlib.sha256).hexdigest()
    assert sign("k", b"{}", 1700000000, delivery="d-1") == {
        "X-Axon-Delivery": "d-1",
        "X-Axon-Timestamp": "1700000000",
        "X-Axon-Signature": f"sha256={digest}",
    }


def test_sign_gives_each_delivery_a_new_id_unless_one_is_passed():
    first, second = sign(SECRET, b"{}", NOW), sign(SECRET, b"{}", NOW)
    assert first["X-Axon-Delivery"] != second["X-Axon-Delivery"]


def test_a_signature_moved_to_another_timestamp_is_refused():
    body = body_of(PUSH)
    headers = sign(SECRET, body, NOW) | {"X-Axon-Timestamp": str(NOW + 1)}
    with pytest.raises(SignatureError, match="does not match the delivery, timestamp and body"):
        at_now().verify(headers, body, SECRET)


def test_a_signature_moved_to_another_delivery_id_is_refused():
    body = body_of(PUSH)
    headers = sign(SECRET, body, NOW, delivery="d-1") | {"X-Axon-Delivery": "d-2"}
    with pytest.raises(SignatureError, match="does not match the delivery, timestamp and body"):
        at_now().verify(headers, body, SECRET)


def test_a_delivery_without_its_id_is_refused():
    body = body_of(PUSH)
    headers = sign(SECRET, body, NOW)
    del headers["X-Axon-Delivery"]
    with pytest.raises(SignatureError, match="missing X-Axon-Delivery"):
        at_now().verify(headers, body, SECRET)


@pytest.mark.parametrize("delivery", ["", "a b", '{"kind"', "d\u00e9"])
def test_a_delivery_id_outside_the_allowed_characters_is_refused(delivery):
    body = body_of(PUSH)
    headers = sign(SECRET, body, NOW, delivery="d-1") | {"X-Axon-Delivery": delivery}
    with pytest.raises(SignatureError, match="X-Axon-Delivery may hold only letters, digits"):
        at_now().verify(headers, body, SECRET)


def legacy_headers(body: bytes, timestamp: int = NOW) -> dict[str, str]:
    """Headers as senders signed before the delivery id was signed: over timestamp + body."""
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"X-Axon-Timestamp": str(timestamp), "X-Axon-Signature": f"sha256={digest.hexdigest()}"}


def test_the_old_scheme_is_accepted_without_a_delivery_id_when_the_source_allows_it():
    body = body_of(PUSH)
    provider = GenericProvider(allow_legacy_signatures=True, clock=lambda: float(NOW))
    provider.verify(legacy_headers(body), body, SECRET)
    assert provider.delivery_id(legacy_headers(body)) is None  # keyed on the body's sha256


def test_the_old_scheme_is_refused_by_default():
    body = body_of(PUSH)
    with pytest.raises(SignatureError, match="missing X-Axon-Delivery"):
        at_now().verify(legacy_headers(body), body, SECRET)


def test_an_old_signature_with_an_added_delivery_id_is_refused():
    body = body_of(PUSH)
    provider = GenericProvider(allow_legacy_signatures=True, clock=lambda: float(NOW))
    with pytest.raises(SignatureError, match="does not match"):
        provider.verify(legacy_headers(body) | {"X-Axon-Delivery": "d-9"}, body, SECRET)


def test_a_delivery_signed_with_another_secret_is_refused():
    body = body_of(PUSH)
    with pytest.raises(SignatureError, match="does not match"):
        at_now().verify(sign("guess", body, NOW), body, SECRET)


@pytest.mark.parametrize(("offset", "when"), [(-301, "behind"), (301, "ahead of")])
def test_a_timestamp_over_300_seconds_from_now_is_refused_as_a_replay(offset, when):
    body = body_of(PUSH)
    with pytest.raises(SignatureError, match=f"301 s {when} this server's clock.*replay"):
        at_now().verify(sign(SECRET, body, NOW + offset), body, SECRET)


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_within_300_seconds_is_accepted(offset):
    body = body_of(PUSH)
    at_now().verify(sign(SECRET, body, NOW + offset), body, SECRET)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Axon-Timestamp": str(NOW)}, "missing X-Axon-Signature"),
        ({"X-Axon-Signature": "sha256=00"}, "missing X-Axon-Timestamp"),
        ({"X-Axon-Signature": "sha256=00", "X-Axon-Timestamp": "soon"}, "not unix seconds"),
        (
            {"X-Axon-Signature": "sha256=é", "X-Axon-Timestamp": str(NOW), "X-Axon-Delivery": "d"},
            "does not match",
        ),
    ],
    ids=["no-signature", "no-timestamp", "word-timestamp", "non-ascii-signature"],
)
def test_missing_or_malformed_headers_are_refused_with_the_reason(headers, reason):
    with pytest.raises(SignatureError, match=reason):
        at_now().verify(headers, b"{}", SECRET)


def test_a_source_without_a_secret_verifies_nothing():
    with pytest.raises(SignatureError, match="no secret"):
        at_now().verify(sign("", b"{}", NOW), b"{}", "")


def test_the_default_clock_is_the_wall_clock():
    body = body_of(PUSH)
    GenericProvider().verify(sign(SECRET, body), body, SECRET)


def test_body_keys_map_onto_event_fields_by_name():
    [event] = parse(PUSH)
    assert (event.kind, event.provider, event.repo, event.ref, event.branch) == (
        "push",
        "generic",
        "ml/forecast",
        "refs/heads/main",
        "main",
    )
    assert event.sha == PUSH["sha"]
    assert event.changed_paths == ("models/lstm.py",)


def test_unknown_keys_are_kept_in_raw():
    [event] = parse(PUSH)
    assert event.raw["dataset"] == "weather-2024"


def test_the_provider_cannot_be_claimed_by_the_body():
    [event] = parse({**PUSH, "provider": "github"})
    assert event.provider == "generic" and event.raw["provider"] == "github"


def test_changed_paths_left_out_means_not_listed():
    [event] = parse({"kind": "push", "repo": "ml/forecast"})
    assert event.changed_paths is None


def test_a_registry_event_carries_image_tag_and_digest():
    payload = {"kind": "registry", "image": "ghcr.io/ml/trainer", "image_tag": "v2", "digest": "x"}
    [event] = parse(payload)
    assert (event.image, event.image_tag, event.digest) == ("ghcr.io/ml/trainer", "v2", "x")


def test_a_pull_request_object_becomes_the_events_pull_request():
    payload = {
        "kind": "pull_request",
        "pull_request": {"number": 4, "action": "opened", "base": "main", "labels": ["gpu"]},
        "deleted": False,
    }
    [event] = parse(payload)
    assert event.pull_request == PullRequest(4, "opened", base="main", labels=("gpu",))


def test_a_body_without_kind_names_the_missing_field():
    with pytest.raises(PayloadError, match="generic: field 'kind' missing"):
        parse({"repo": "ml/forecast"})


def test_an_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(PayloadError, match="'kind' is 'deploy', not one of push, tag"):
        parse({"kind": "deploy"})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"kind": "push", "sha": 123}, "generic push: field 'sha' must be a string"),
        ({"kind": "push", "forced": "yes"}, "field 'forced' must be true or false"),
        ({"kind": "push", "changed_paths": "a.py"}, "'changed_paths' must be a list of strings"),
        ({"kind": "comment", "pull_request": {"action": "x"}}, "'pull_request.number' must be"),
        ({"kind": "comment", "pull_request": {"number": 1}}, "'pull_request.action' missing"),
        ({"kind": "comment", "pull_request": {"number": 1, "action": "c", "draft": 1}}, "draft"),
    ],
    ids=["sha-int", "forced-string", "paths-string", "pr-no-number", "pr-no-action", "draft-int"],
)
def test_a_field_of_the_wrong_type_is_named(payload, reason):
    with pytest.raises(PayloadError, match=reason):
        parse(payload)


def test_the_delivery_id_is_the_signed_axon_delivery_header():
    assert at_now().delivery_id({"X-Axon-Delivery": " d-1 "}) == "d-1"
    assert at_now().delivery_id({}) is None  # the intake then keys on the body's sha256


class TestGenericProviderContract(WebhookProviderContract):
    @pytest.fixture
    def provider(self):
        return at_now()

    @pytest.fixture
    def signed(self):
        return lambda body: sign("topsecret", body, NOW)

    @pytest.fixture
    def sample(self):
        body = body_of(PUSH)
        return {"Content-Type": "application/json", **sign("topsecret", body, NOW)}, body
