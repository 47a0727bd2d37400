"""GitHub App auth: a JWT buys an installation token, which is cached and renewed."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import traceback
from collections.abc import Iterator

import pytest

from notifiers import github_app
from notifiers.base import PermanentError, TransientError
from notifiers.github import GitHubNotifier
from notifiers.github_checks import GitHubChecksNotifier
from schemas.status import RunStatus
from tests.fakes.github import GitHubDouble

INSTALLATION_TOKEN = "ghs_1nStAlLaTi0n0123456789abcdefABCDEF"
NEXT_TOKEN = "ghs_nExTtOkEn0123456789abcdefABCDEFGHI"
# Not a key: with the signer replaced below, only its text travels (and must never leak).
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAaxon\n-----END RSA PRIVATE KEY-----"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def _fake_signature(message: bytes) -> bytes:
    return hashlib.sha256(b"test-key:" + message).digest()


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    github_app.forget_tokens()
    yield
    github_app.forget_tokens()


@pytest.fixture
def signed(monkeypatch) -> list[str]:
    """Replace RS256 with a keyed hash; collects the private keys it was asked to use."""
    used: list[str] = []

    def rs256(private_key: str):
        used.append(private_key)
        return _fake_signature

    monkeypatch.setattr(github_app, "rs256", rs256)
    return used


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(token=INSTALLATION_TOKEN) as double:
        yield double


def app_notifier(github, cls=GitHubNotifier, installation="42"):
    return cls(
        api_url=github.url,
        app_id="1234",
        app_private_key=PRIVATE_KEY,
        app_installation_id=installation,
        timeout=5,
    )


def _claims(jwt: str) -> tuple[dict, dict, bytes]:
    def part(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    header, claims, signature = jwt.split(".")
    return json.loads(part(header)), json.loads(part(claims)), part(signature)


def test_an_installation_token_bought_with_a_jwt_signs_the_commit_status(signed, github, report):
    github.expect_installation_token(42, INSTALLATION_TOKEN)
    github.expect_commit_status("octo-org", "vision", SHA)

    app_notifier(github).send(report(), {}, None)

    github.assert_no_outstanding()
    token_request, status_request = github.requests
    jwt = token_request.headers["Authorization"].removeprefix("Bearer ")
    header, claims, signature = _claims(jwt)
    assert header == {"alg": "RS256", "typ": "JWT"}
    assert claims["iss"] == "1234"
    assert claims["iat"] <= time.time() - 59 and claims["exp"] - claims["iat"] == 600
    assert signature == _fake_signature(jwt.rsplit(".", 1)[0].encode())
    assert status_request.headers["Authorization"] == f"Bearer {INSTALLATION_TOKEN}"
    assert signed == [PRIVATE_KEY]


def test_one_installation_token_serves_every_github_notifier_until_it_nears_expiry(
    signed, github, report
):
    github.expect_installation_token(42, INSTALLATION_TOKEN, times=1)
    github.expect_commit_status("octo-org", "vision", SHA, times=2)
    github.expect_check_run("octo-org", "vision")

    # ci.reporting.reports makes a notifier per report, so the cache lives beyond one instance.
    app_notifier(github).send(report(RunStatus.RUNNING), {}, None)
    app_notifier(github).send(report(), {}, None)
    app_notifier(github, GitHubChecksNotifier).send(report(), {}, None)

    github.assert_no_outstanding()


def test_a_token_expiring_within_five_minutes_is_renewed(signed, report):
    with GitHubDouble() as github:  # no fixed token: the test reads which one each call used
        github.expect_installation_token(42, INSTALLATION_TOKEN, expires_in=200)
        github.expect_installation_token(42, NEXT_TOKEN)
        github.expect_commit_status("octo-org", "vision", SHA, times=2)

        app_notifier(github).send(report(RunStatus.RUNNING), {}, None)
        app_notifier(github).send(report(), {}, None)

        github.assert_no_outstanding()
        used = [r.headers["Authorization"] for r in github.requests if "/statuses/" in r.path]
        assert used == [f"Bearer {INSTALLATION_TOKEN}", f"Bearer {NEXT_TOKEN}"]


def test_without_a_configured_installation_it_is_looked_up_for_the_repository(
    signed, github, report
):
    github.expect_installation_lookup("octo-org", "vision", 77)
    github.expect_installation_token(77, INSTALLATION_TOKEN)
    github.expect_commit_status("octo-org", "vision", SHA, times=2)

    app_notifier(github, installation="").send(report(RunStatus.RUNNING), {}, None)
    app_notifier(github, installation="").send(report(), {}, None)

    github.assert_no_outstanding()  # one lookup and one token for both


def test_an_app_not_installed_on_the_repository_is_permanent(signed, github, report):
    github.expect_installation_lookup("octo-org", "vision", None)

    with pytest.raises(PermanentError, match="github app 1234 is not installed on octo-org/vision"):
        app_notifier(github, installation="").send(report(), {}, None)


def test_a_token_github_no_longer_takes_is_dropped_and_the_retry_buys_a_new_one(signed, report):
    with GitHubDouble(token=NEXT_TOKEN) as github:
        github.expect_installation_token(42, INSTALLATION_TOKEN)
        github.expect(
            "POST", "/repos/{owner}/{repo}/statuses/{sha}", status=401, json={"message": "Bad"}
        )
        github.expect_installation_token(42, NEXT_TOKEN)
        github.expect_commit_status("octo-org", "vision", SHA)

        with pytest.raises(TransientError, match="401") as caught:
            app_notifier(github).send(report(), {}, None)
        app_notifier(github).send(report(), {}, None)

        github.assert_no_outstanding()
        assert INSTALLATION_TOKEN not in str(caught.value)


def test_a_refused_jwt_is_permanent_and_names_neither_the_jwt_nor_the_key(signed, github, report):
    github.expect_installation_token(
        42, INSTALLATION_TOKEN, status=401, message="A JSON web token could not be decoded"
    )

    with pytest.raises(PermanentError, match="401 A JSON web token could not be decoded") as caught:
        app_notifier(github).send(report(), {}, None)

    text = "".join(traceback.format_exception(caught.value))
    jwt = github.requests[0].headers["Authorization"].removeprefix("Bearer ")
    assert jwt not in text and "MIIEowIBAAKCAQEAaxon" not in text


def test_with_the_cryptography_package_the_jwt_verifies_with_the_apps_public_key():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()

    jwt = github_app.GitHubApp("https://api.github.com", "1234", pem.replace("\n", "\\n")).jwt()

    signing_input, _, signature = jwt.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    key.public_key().verify(raw, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
