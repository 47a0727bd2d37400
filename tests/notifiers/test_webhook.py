"""WebhookNotifier: Polyaxon's notification fields as JSON, signed so the receiver can trust it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt
from notifiers.webhook import WebhookNotifier
from schemas.errors import SignatureError
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierContract
from tests.fakes.webhook import WebhookDouble
from webhooks.generic import GenericProvider

UUID = "3f1c9a52e8d44b0f9a6f0c1d2e3b4a5c"


@pytest.fixture
def hook() -> Iterator[WebhookDouble]:
    with WebhookDouble() as double:
        yield double


class TestWebhookNotifier(NotifierContract):
    @pytest.fixture
    def double(self, hook):
        return hook

    @pytest.fixture
    def make_notifier(self, hook):
        return lambda url, timeout=5.0: WebhookNotifier(
            url=url + hook.path, secret=hook.secret, timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self, hook):
        return [hook.secret]

    @pytest.fixture
    def expect_delivery(self, hook):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            hook.expect_notification(
                status=status or 200, body=message or "", headers=headers, delay=delay
            )

        return expect

    def test_the_body_holds_polyaxons_notification_fields_then_axons(self, notifier, hook, report):
        hook.expect_notification()

        notifier.send(report(RunStatus.SUCCEEDED), {}, None)

        [body] = hook.notifications()
        polyaxon = ["owner", "project", "uuid", "name", "status", "title", "details"]
        assert list(body)[:9] == [*polyaxon, "finished_at", "outputs"]
        assert {key: body[key] for key in list(body)[:9] if key != "details"} == {
            "owner": "octo-org",
            "project": "vision",
            "uuid": UUID,
            "name": "train-resnet50",
            "status": "succeeded",
            "title": "vision/train-resnet50 succeeded in 12s",
            "finished_at": "2024-05-06T09:30:12Z",
            "outputs": {"accuracy": 0.93, "loss": 0.214},
        }
        assert body["details"].splitlines()[:3] == [
            f"Run: train-resnet50 ({UUID})",
            "Status: succeeded",
            "Transition time: 2024-05-06T09:30:12Z",
        ]
        assert (body["event"], body["sha"], body["subscription"]) == (
            "run.status",
            "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "train-on-push",
        )

    def test_a_diverged_runs_nan_and_infinity_arrive_as_strings_in_valid_json(
        self, notifier, hook, report
    ):
        hook.expect_notification()
        outputs = {"loss": float("nan"), "grad_norm": float("inf"), "nested": [float("-inf")]}

        notifier.send(report(RunStatus.FAILED, outputs=outputs), {}, None)

        [request] = hook.requests
        assert request.verdict == "expected"
        body = json.loads(request.body, parse_constant=_refuse)
        assert body["outputs"] == {"loss": "NaN", "grad_norm": "Infinity", "nested": ["-Infinity"]}
        assert "Output loss: NaN" in body["details"].splitlines()
        assert hook.signature_valid(request)

    def test_the_receiver_can_verify_the_signature_with_the_shared_secret(
        self, notifier, hook, report
    ):
        hook.expect_notification()

        receipt = notifier.send(report(), {}, None)

        [request] = hook.requests
        assert hook.signature_valid(request)
        assert abs(int(request.headers["X-Axon-Timestamp"]) - time.time()) < 5
        assert request.headers["X-Axon-Delivery"] == f"{UUID}.succeeded"
        assert receipt == Receipt("webhook", f"{UUID}.succeeded", {"status_code": 200})

    def test_axons_own_generic_source_accepts_what_it_sends(self, notifier, hook, report):
        hook.expect_notification()
        notifier.send(report(), {}, None)
        [request] = hook.requests

        GenericProvider().verify(request.headers, request.body, hook.secret)

        replayed = {**request.headers, "X-Axon-Delivery": f"{UUID}.failed"}
        with pytest.raises(SignatureError):
            GenericProvider().verify(replayed, request.body, hook.secret)

    def test_a_changed_body_or_another_secret_does_not_verify(self, notifier, hook, report):
        hook.expect_notification()
        notifier.send(report(), {}, None)
        [request] = hook.requests

        tampered = json.dumps({**request.json, "status": "failed"}).encode()
        assert not hook.signature_valid(request.__class__(**{**request.__dict__, "body": tampered}))
        with WebhookDouble(secret="another secret") as other:
            assert not other.signature_valid(request)

    def test_without_a_secret_it_is_sent_unsigned(self, report):
        with WebhookDouble(secret="") as hook:
            hook.expect_notification()

            WebhookNotifier(url=hook.hook_url).send(report(), {}, None)

            assert "X-Axon-Signature" not in hook.requests[0].headers
            hook.assert_no_outstanding()

    def test_a_targets_url_inside_the_network_is_refused_without_allow_private(
        self, notifier, hook, report
    ):
        with pytest.raises(PermanentError, match="resolves to 127.0.0.1, a loopback address"):
            notifier.send(report(), {"url": hook.hook_url}, None)

        assert hook.requests == []

    def test_with_allow_private_a_targets_internal_url_is_delivered(self, hook, report):
        hook.expect_notification()
        notifier = WebhookNotifier(secret=hook.secret, allow_private=True)

        notifier.send(report(), {"url": hook.hook_url}, None)

        assert hook.signature_valid(hook.requests[0])

    def test_a_redirect_is_refused_not_followed(self, hook, report):
        hook.expect("POST", hook.path, status=307, body="", headers={"Location": "/internal/admin"})
        notifier = WebhookNotifier(url=hook.hook_url, secret=hook.secret)

        with pytest.raises(PermanentError, match="307 redirect not followed"):
            notifier.send(report(), {}, None)

        assert [request.path for request in hook.requests] == [hook.path]

    def test_without_any_url_the_error_is_permanent(self, hook, report):
        with pytest.raises(PermanentError, match="no url"):
            WebhookNotifier().send(report(), {}, None)


def _refuse(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")
