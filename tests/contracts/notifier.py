"""What every notifier does, whatever its target: subclass NotifierContract in its tests.

The subclass provides these fixtures:
- `double`: the started HTTP double standing in for the target.
- `make_notifier(url, timeout=5.0)`: a notifier, holding its secret, whose target is at `url`
  (the double's base URL, or any other, e.g. one where nothing listens).
- `target`: the target config dict passed to `send`.
- `expect_delivery(status=None, *, message=None, headers=None, delay=0.0)`: script the
  double to accept one delivery; `status` None is the target's success, any other status is
  answered in the target's own error format carrying `message`.
- `secrets`: the strings (token, webhook path) that must never appear in an error.
- `report(status, **changes)`: a realistic Report (tests/notifiers/conftest.py has one).
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, TransientError
from notifiers.registry import notifiers
from schemas.status import RunStatus
from tests.fakes.http_double import HttpDouble


def _unused_url() -> str:
    """The URL of a loopback port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _assert_free_of(error: BaseException, secrets: list[str]) -> None:
    text = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
    for secret in secrets:
        assert secret not in text, f"a secret leaked into: {text}"


class NotifierContract:
    """The behaviour shared by every notifier (see the module docstring for its fixtures)."""

    @pytest.fixture
    def notifier(self, make_notifier, double):
        return make_notifier(double.url)

    @pytest.fixture(autouse=True)
    def _the_target_saw_only_what_was_expected(self, double: HttpDouble) -> Iterator[None]:
        yield
        double.assert_no_outstanding()

    def test_is_found_in_the_registry_under_its_name(self, notifier):
        assert notifiers.load(notifier.name) is type(notifier)

    @pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED])
    def test_a_wanted_final_status_reaches_the_target_once(
        self, status, notifier, double, expect_delivery, report, target
    ):
        assert status in notifier.wants
        expect_delivery()

        receipt = notifier.send(report(status), target, None)

        assert [request.verdict for request in double.requests] == ["expected"]
        assert receipt.target == notifier.name

    @pytest.mark.parametrize(
        "status", [RunStatus.CREATED, RunStatus.COMPILED, RunStatus.QUEUED, RunStatus.SCHEDULED]
    )
    def test_a_status_before_the_run_starts_is_not_wanted(self, status, notifier):
        assert status not in notifier.wants

    def test_wants_only_statuses_that_exist(self, notifier):
        assert notifier.wants <= frozenset(RunStatus)

    def test_a_server_error_is_transient(self, notifier, expect_delivery, report, target):
        expect_delivery(500)

        with pytest.raises(TransientError):
            notifier.send(report(RunStatus.SUCCEEDED), target, None)

    @pytest.mark.parametrize("status", [400, 404])
    def test_a_refusal_is_permanent(self, status, notifier, expect_delivery, report, target):
        expect_delivery(status, message="refused")

        with pytest.raises(PermanentError, match=str(status)):
            notifier.send(report(RunStatus.SUCCEEDED), target, None)

    def test_too_many_requests_is_transient_after_retry_after(
        self, notifier, expect_delivery, report, target
    ):
        expect_delivery(429, headers={"Retry-After": "7"})

        with pytest.raises(TransientError) as caught:
            notifier.send(report(RunStatus.SUCCEEDED), target, None)

        assert caught.value.retry_after == 7

    def test_an_unreachable_target_is_transient(self, make_notifier, report, target, secrets):
        notifier = make_notifier(_unused_url())

        with pytest.raises(TransientError) as caught:
            notifier.send(report(RunStatus.SUCCEEDED), target, None)

        _assert_free_of(caught.value, secrets)

    def test_a_target_slower_than_the_timeout_is_transient(
        self, make_notifier, double, expect_delivery, report, target, secrets
    ):
        expect_delivery(delay=3.0)
        notifier = make_notifier(double.url, timeout=0.2)

        with pytest.raises(TransientError, match="no answer") as caught:
            notifier.send(report(RunStatus.SUCCEEDED), target, None)

        _assert_free_of(caught.value, secrets)

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
    def test_the_secret_never_appears_in_an_error_even_when_the_target_echoes_it(
        self, status, notifier, expect_delivery, report, target, secrets
    ):
        expect_delivery(status, message="credentials not accepted: " + " ".join(secrets))

        with pytest.raises((TransientError, PermanentError)) as caught:
            notifier.send(report(RunStatus.FAILED), target, None)

        assert "credentials not accepted" in str(caught.value)
        _assert_free_of(caught.value, secrets)
