"""PagerDuty: Events API v2 by default, v1 when a setting asks for it."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from ci.config import Settings
from notifiers.base import PermanentError, Receipt, TransientError
from notifiers.pagerduty import EVENTS_URLS, PagerDutyNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierContract
from tests.fakes.pagerduty import PATHS, PagerDutyDouble

S = RunStatus
RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"
ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyDouble]:
    with PagerDutyDouble() as double:
        yield double


class TestPagerDutyNotifier(NotifierContract):
    @pytest.fixture
    def double(self, pagerduty):
        return pagerduty

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: PagerDutyNotifier(
            ROUTING_KEY, url=url + PATHS["v2"], timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self):
        return [ROUTING_KEY]

    @pytest.fixture
    def expect_delivery(self, pagerduty):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            pagerduty.expect_event(status=status, message=message, headers=headers, delay=delay)

        return expect

    def test_a_failure_triggers_an_alert_that_the_next_success_resolves(
        self, notifier, pagerduty, report
    ):
        pagerduty.expect_event(times=2)

        opened = notifier.send(report(S.FAILED), {}, None)
        notifier.send(report(S.SUCCEEDED, run_uuid="a-later-run"), {}, None)

        trigger, resolve = pagerduty.events()
        assert {key: trigger[key] for key in ("routing_key", "event_action", "dedup_key")} == {
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "axon/vision/train-on-push",
        }
        payload = trigger["payload"]
        assert payload["summary"] == "vision/train-resnet50 failed after 12s"
        assert (payload["source"], payload["severity"]) == ("octo-org/vision", "error")
        assert payload["timestamp"] == "2024-05-06T09:30:12Z"
        assert payload["custom_details"]["message"] == "exit code 1"
        assert (trigger["client"], trigger["client_url"]) == ("Axon", RUN_URL)
        assert trigger["links"] == [{"href": RUN_URL, "text": "The run in Axon"}]
        assert resolve == {
            "routing_key": ROUTING_KEY,
            "event_action": "resolve",
            "dedup_key": "axon/vision/train-on-push",
        }
        assert opened == Receipt(
            "pagerduty",
            "axon/vision/train-on-push",
            {"dedup_key": "axon/vision/train-on-push", "event_action": "trigger"},
        )

    def test_a_diverged_run_with_loss_nan_still_pages(self, notifier, pagerduty, report):
        pagerduty.expect_event()

        notifier.send(report(S.FAILED, outputs={"loss": math.nan, "lr": -math.inf}), {}, None)

        [request] = pagerduty.requests
        assert request.verdict == "expected"
        assert request.json["payload"]["custom_details"]["outputs"] == {
            "loss": "NaN",
            "lr": "-Infinity",
        }
        assert "Output loss: NaN" in request.json["payload"]["custom_details"]["details"]

    def test_a_long_headline_and_key_keep_to_pagerdutys_limits(self, notifier, pagerduty, report):
        pagerduty.expect_event()

        notifier.send(report(S.FAILED, run_name="r" * 2000), {"dedup_key": "k" * 300}, None)

        [event] = pagerduty.events()
        assert len(event["payload"]["summary"]) == 1024
        assert len(event["dedup_key"]) == 255

    def test_too_many_events_is_transient(self, notifier, pagerduty, report):
        pagerduty.expect_event(status=429)

        with pytest.raises(TransientError, match="429"):
            notifier.send(report(S.FAILED), {}, None)

    def test_an_invalid_event_is_permanent_with_pagerdutys_errors(
        self, notifier, pagerduty, report
    ):
        pagerduty.expect_event(status=400)

        with pytest.raises(PermanentError, match="Event object is invalid: 'routing_key' is"):
            notifier.send(report(S.FAILED), {}, None)

    def test_the_target_names_its_integration_and_alert(self, pagerduty, report):
        pagerduty.expect_event()
        notifier = PagerDutyNotifier(url=pagerduty.events_url)

        notifier.send(report(S.FAILED), {"routing_key": "f" * 32, "dedup_key": "nightly"}, None)

        [event] = pagerduty.events()
        assert (event["routing_key"], event["dedup_key"]) == ("f" * 32, "nightly")

    def test_a_stopped_or_skipped_run_pages_nobody(self, notifier):
        assert not notifier.wants & {S.STOPPED, S.SKIPPED, S.RUNNING}


class TestPagerDutyEventsApiV1:
    @pytest.fixture
    def pagerduty_v1(self) -> Iterator[PagerDutyDouble]:
        with PagerDutyDouble(events_api="v1") as double:
            yield double
            double.assert_no_outstanding()

    def test_the_setting_asks_for_events_api_v1(self):
        settings = Settings.from_env({"AXON_PAGERDUTY_EVENTS_API": "v1"})

        notifier = PagerDutyNotifier(**settings.notifier_config("pagerduty"))

        assert (notifier.events_api, notifier.url) == ("v1", EVENTS_URLS["v1"])

    def test_without_the_setting_events_api_v2_is_used(self):
        notifier = PagerDutyNotifier(**Settings.from_env({}).notifier_config("pagerduty"))

        assert notifier.url == "https://events.pagerduty.com/v2/enqueue"

    def test_an_unknown_events_api_is_refused_by_name(self):
        with pytest.raises(ValueError, match="events_api must be one of"):
            PagerDutyNotifier(events_api="v3")

    def test_v1_triggers_and_resolves_one_incident(self, pagerduty_v1, report):
        pagerduty_v1.expect_event(times=2)
        notifier = PagerDutyNotifier(ROUTING_KEY, url=pagerduty_v1.events_url, events_api="v1")

        notifier.send(report(S.FAILED, outputs={"loss": math.nan}), {}, None)
        notifier.send(report(S.SUCCEEDED), {}, None)

        trigger, resolve = pagerduty_v1.events()
        assert (trigger["service_key"], trigger["event_type"]) == (ROUTING_KEY, "trigger")
        assert trigger["incident_key"] == resolve["incident_key"] == "axon/vision/train-on-push"
        assert trigger["details"]["outputs"] == {"loss": "NaN"}
        assert trigger["contexts"] == [{"type": "link", "href": RUN_URL, "text": "The run in Axon"}]
        assert resolve["event_type"] == "resolve"

    def test_v1_throttling_403_is_transient(self, pagerduty_v1, report):
        pagerduty_v1.expect_event(status=403, message="Too many API calls at a time")
        notifier = PagerDutyNotifier(ROUTING_KEY, url=pagerduty_v1.events_url, events_api="v1")

        with pytest.raises(TransientError, match="403"):
            notifier.send(report(S.FAILED), {}, None)
