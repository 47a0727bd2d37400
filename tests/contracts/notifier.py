"""What every notifier does, whatever its target: subclass NotifierContract in its tests.

NotifierBasics holds what holds for any protocol (a notifier over SMTP subclasses only it, and
provides a `notifier` fixture); NotifierContract adds what holds for one over HTTP;
EditInPlaceContract adds what holds for one that edits its message on later statuses.

NotifierContract's subclass provides these fixtures:
- `double`: the started HTTP double standing in for the target.
- `make_notifier(url, timeout=5.0)`: a notifier, holding its secret, whose target is at `url`
  (the double's base URL, or any other, e.g. one where nothing listens).
- `target`: the target config dict passed to `send`.
- `expect_delivery(status=None, *, message=None, headers=None, delay=0.0)`: script the
  double to accept one delivery; `status` None is the target's success, any other status is
  answered in the target's own error format carrying `message`.
- `secrets`: the strings (token, webhook path) that must never appear in an error.
- `report(status, **changes)`: a realistic Report (tests/notifiers/conftest.py has one).
EditInPlaceContract's subclass also provides:
- `expect_edit(status=None, *, message=None, headers=None)`: script the double to accept one
  edit of what `expect_delivery()` created; `status` as for `expect_delivery`.
A subclass whose notifier reports a status before the run starts (a check run is created when
the run is queued) names it in the class attribute `wanted_before_start`.
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator
from typing import ClassVar

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


class NotifierBasics:
    """What holds for every notifier, over any protocol; the subclass provides `notifier`."""

    wanted_before_start: ClassVar[frozenset[RunStatus]] = frozenset()

    def test_is_found_in_the_registry_under_its_name(self, notifier):
        assert notifiers.load(notifier.name) is type(notifier)

    def test_a_status_before_the_run_starts_is_not_wanted(self, notifier):
        early = {RunStatus.CREATED, RunStatus.COMPILED, RunStatus.QUEUED, RunStatus.SCHEDULED}

        assert notifier.wants & early == self.wanted_before_start

    def test_wants_only_statuses_that_exist(self, notifier):
        assert notifier.wants <= frozenset(RunStatus)

    def test_wants_success_and_failure(self, notifier):
        assert {RunStatus.SUCCEEDED, RunStatus.FAILED} <= notifier.wants


class NotifierContract(NotifierBasics):
    """The behaviour shared by every notifier over HTTP (the module docstring has its fixtures)."""

    @pytest.fixture
    def notifier(self, make_notifier, double):
        return make_notifier(double.url)

    @pytest.fixture(autouse=True)
    def _the_target_saw_only_what_was_expected(self, double: HttpDouble) -> Iterator[None]:
        yield
        double.assert_no_outstanding()

    @pytest.mark.parametrize("status", [RunStatus.SUCCEEDED, RunStatus.FAILED])
    def test_a_wanted_final_status_reaches_the_target_once(
        self, status, notifier, double, expect_delivery, report, target
    ):
        assert status in notifier.wants
        expect_delivery()

        receipt = notifier.send(report(status), target, None)

        assert [request.verdict for request in double.requests] == ["expected"]
        assert receipt.target == notifier.name

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


class EditInPlaceContract(NotifierContract):
    """A notifier that edits, on later statuses, what it created for the run."""

    def test_a_later_status_edits_what_the_first_created(
        self, notifier, double, expect_delivery, expect_edit, report, target
    ):
        expect_delivery()
        expect_edit()

        first = notifier.send(report(RunStatus.RUNNING), target, None)
        last = notifier.send(report(RunStatus.SUCCEEDED), target, first)

        assert first.external_id and last.external_id == first.external_id
        created, edited = double.requests
        assert (created.verdict, edited.verdict) == ("expected", "expected")
        assert (edited.method, edited.path) != (created.method, created.path)  # not a 2nd create

    def test_running_is_wanted_so_that_it_can_be_edited_later(self, notifier):
        assert RunStatus.RUNNING in notifier.wants

    def test_an_edit_the_target_fails_is_transient(
        self, notifier, expect_delivery, expect_edit, report, target
    ):
        expect_delivery()
        expect_edit(502)
        first = notifier.send(report(RunStatus.RUNNING), target, None)

        with pytest.raises(TransientError):
            notifier.send(report(RunStatus.SUCCEEDED), target, first)

    def test_an_edit_the_target_refuses_is_permanent_and_keeps_the_secret(
        self, notifier, expect_delivery, expect_edit, report, target, secrets
    ):
        expect_delivery()
        expect_edit(403, message="not yours to edit: " + " ".join(secrets))
        first = notifier.send(report(RunStatus.RUNNING), target, None)

        with pytest.raises(PermanentError, match="not yours to edit") as caught:
            notifier.send(report(RunStatus.SUCCEEDED), target, first)

        _assert_free_of(caught.value, secrets)
