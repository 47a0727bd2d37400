"""The shared signature checks: HMAC digests and tokens compared in constant time, safely."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from schemas.errors import SignatureError
from webhooks.generic import GenericProvider
from webhooks.registry import providers
from webhooks.signatures import (
    check_bitbucket_style,
    check_github_style,
    digest_matches,
    hmac_hex,
    same,
)

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
# GitHub's documented vector for SECRET and BODY.
HEX = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
NON_ASCII = ["sha256=é" + HEX[1:], "sha256=\u2603", "é", "\udcff"]


def test_the_hex_hmac_is_the_published_vector():
    assert hmac_hex(SECRET, BODY) == HEX


@pytest.mark.parametrize("given", [HEX, HEX.upper(), f"  {HEX} "])
def test_a_bare_hex_digest_matches_in_either_case(given):
    assert digest_matches(given, SECRET, BODY)


def test_a_prefixed_hex_digest_matches_only_with_its_prefix():
    assert digest_matches(f"sha256={HEX}", SECRET, BODY, prefix="sha256=")
    assert not digest_matches(HEX, SECRET, BODY, prefix="sha256=")
    assert not digest_matches(f"sha1={HEX}", SECRET, BODY, prefix="sha256=")


def test_a_base64_digest_matches_with_or_without_a_prefix():
    digest = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert digest_matches(digest, SECRET, BODY, encoding="base64")
    assert digest_matches(f"v1,{digest}", SECRET, BODY, prefix="v1,", encoding="base64")
    assert not digest_matches(digest.lower(), SECRET, BODY, encoding="base64")


def test_another_algorithm_is_named_by_its_hashlib_name():
    sha1 = hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert digest_matches(f"sha1={sha1}", SECRET, BODY, "sha1", "sha1=")
    assert not digest_matches(f"sha1={sha1}", SECRET, BODY, "sha256", "sha1=")


def test_an_unknown_encoding_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown signature encoding 'hexx'"):
        digest_matches(HEX, SECRET, BODY, encoding="hexx")


@pytest.mark.parametrize("given", NON_ASCII)
def test_non_ascii_text_is_a_mismatch_not_a_type_error(given):
    assert not digest_matches(given, SECRET, BODY)
    assert not digest_matches(given, SECRET, BODY, prefix="sha256=")
    assert not digest_matches(given, SECRET, BODY, encoding="base64")
    assert not same(given, SECRET)


def test_a_plain_token_matches_only_itself():
    assert same("sampleToken!", "sampleToken!")
    assert same(b"sampleToken!", "sampleToken!")
    assert not same("sampleToken", "sampleToken!")
    assert not same("", "sampleToken!")


def test_github_style_names_the_header_that_does_not_match():
    headers = {"x-hub-signature-256": f"sha256={HEX}"}
    assert check_github_style(headers, BODY, SECRET)
    assert not check_github_style({}, BODY, SECRET)
    with pytest.raises(SignatureError, match="^X-Hub-Signature-256 does not match the body$"):
        check_github_style(headers, b"tampered", SECRET)


def test_bitbucket_style_refuses_a_signature_without_its_prefix():
    with pytest.raises(SignatureError, match="is not of the form sha256=<hex>"):
        check_bitbucket_style({"x-hub-signature": HEX}, BODY, SECRET)
    check_bitbucket_style({"x-hub-signature": f"sha256={HEX}"}, BODY, SECRET)


# Every provider


def non_ascii_headers(name: str, value: str) -> dict[str, str]:
    """A delivery whose signature or token header is `value`, with whatever else it needs."""
    header = {
        "github": "X-Hub-Signature-256",
        "gitea": "X-Gitea-Signature",
        "gitlab": "X-Gitlab-Token",
        "bitbucket": "X-Hub-Signature",
        "bitbucketserver": "X-Hub-Signature",
        "generic": "X-Axon-Signature",
    }.get(name, "Authorization")
    if header == "Authorization" and name != "harbor":
        value = f"Bearer {value}"
    return {header: value, "X-Axon-Timestamp": "1700000000", "X-Axon-Delivery": "d-1"}


@pytest.mark.parametrize("value", NON_ASCII)
@pytest.mark.parametrize("name", providers.names())
def test_every_provider_refuses_a_non_ascii_signature_with_a_reason(name, value):
    provider = (
        GenericProvider(clock=lambda: 1700000000) if name == "generic" else providers.get(name)
    )
    with pytest.raises(SignatureError, match="does not match|is not of the form"):
        provider.verify(non_ascii_headers(name, value), BODY, SECRET)


@pytest.mark.parametrize("name", providers.names())
def test_every_provider_refuses_a_source_without_a_secret(name):
    with pytest.raises(SignatureError, match="^the source has no secret"):
        providers.get(name).verify(non_ascii_headers(name, HEX), BODY, "")
