"""Discord and Mattermost webhooks, and PagerDuty events, in Polyaxon's shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt, TransientError
from notifiers.discord import DiscordNotifier
from notifiers.mattermost import MattermostNotifier
from notifiers.pagerduty import PagerDutyNotifier
from notifiers.render import GREEN, RED
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierContract
from tests.fakes.discord import DiscordDouble
from tests.fakes.mattermost import MattermostDouble
from tests.fakes.pagerduty import PATH, PagerDutyDouble

S = RunStatus
RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"
SERVICE_KEY = "e93facc04764012d7bfb002500d5d1a6"


@pytest.fixture
def discord() -> Iterator[DiscordDouble]:
    with DiscordDouble() as double:
        yield double


@pytest.fixture
def mattermost() -> Iterator[MattermostDouble]:
    with MattermostDouble() as double:
        yield double


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyDouble]:
    with PagerDutyDouble() as double:
        yield double


class TestDiscordNotifier(NotifierContract):
    @pytest.fixture
    def double(self, discord):
        return discord

    @pytest.fixture
    def make_notifier(self, discord):
        return lambda url, timeout=5.0: DiscordNotifier(url + discord.path, timeout=timeout)

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self, discord):
        return [discord.token]

    @pytest.fixture
    def expect_delivery(self, discord):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            discord.expect_message(
                status=status or 200, message=message, headers=headers, delay=delay
            )

        return expect

    def test_the_message_is_polyaxons_with_mentions_switched_off(self, notifier, discord, report):
        discord.expect_message()

        receipt = notifier.send(report(branch="@everyone"), {}, None)

        [message] = discord.messages()
        assert (message["username"], message["tts"]) == ("Axon", False)
        assert message["allowed_mentions"] == {"parse": []}
        assert message["content"].splitlines()[:3] == [
            "✅ vision/train-resnet50 succeeded in 12s",
            "Run: train-resnet50 (3f1c9a52e8d44b0f9a6f0c1d2e3b4a5c)",
            "Status: succeeded",
        ]
        assert discord.requests[0].query == {"wait": "true"}
        assert receipt == Receipt(
            "discord",
            "1100000000000000001",
            {"message_id": "1100000000000000001", "channel_id": "1100000000000000000"},
        )

    def test_a_long_message_is_cut_to_discords_2000_characters(self, notifier, discord, report):
        discord.expect_message()

        notifier.send(report(S.FAILED, message="x" * 3000), {}, None)

        assert len(discord.messages()[0]["content"]) == 2000

    def test_a_deleted_webhook_is_permanent_with_discords_message(self, notifier, discord, report):
        discord.expect_message(status=404, message="Unknown Webhook", code=10015)

        with pytest.raises(PermanentError, match="404 Unknown Webhook") as caught:
            notifier.send(report(), {}, None)

        assert discord.token not in str(caught.value)

    def test_a_targets_webhook_inside_the_network_is_refused_without_allow_private(
        self, notifier, discord, report
    ):
        with pytest.raises(PermanentError, match="a loopback address") as caught:
            notifier.send(report(), {"webhook_url": discord.webhook_url}, None)

        assert discord.requests == []
        assert discord.token not in str(caught.value)


class TestMattermostNotifier(NotifierContract):
    @pytest.fixture
    def double(self, mattermost):
        return mattermost

    @pytest.fixture
    def make_notifier(self, mattermost):
        return lambda url, timeout=5.0: MattermostNotifier(url + mattermost.path, timeout=timeout)

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self, mattermost):
        return [mattermost.key]

    @pytest.fixture
    def expect_delivery(self, mattermost):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            mattermost.expect_message(
                status=status or 200, message=message, headers=headers, delay=delay
            )

        return expect

    def test_the_message_is_polyaxons_attachment_with_the_outputs(
        self, notifier, mattermost, report
    ):
        mattermost.expect_message()

        notifier.send(report(), {"channel": "ml-runs"}, None)

        [message] = mattermost.messages()
        assert message["channel"] == "ml-runs"
        [attachment] = message["attachments"]
        assert attachment["title"] == "vision/train-resnet50 succeeded in 12s"
        assert (attachment["title_link"], attachment["author_link"]) == (RUN_URL, RUN_URL)
        assert (attachment["color"], attachment["author_name"]) == (GREEN, "Axon")
        assert attachment["text"].startswith("Run: train-resnet50 (3f1c9a52")
        assert attachment["fields"] == [
            {"short": True, "title": "accuracy", "value": "0.93"},
            {"short": True, "title": "loss", "value": "0.214"},
        ]

    def test_a_failure_is_red_and_mentions_from_the_event_do_not_ping(
        self, notifier, mattermost, report
    ):
        mattermost.expect_message()

        notifier.send(report(S.FAILED, message="blame @channel"), {}, None)

        [attachment] = mattermost.messages()[0]["attachments"]
        assert attachment["color"] == RED
        assert "@channel" not in attachment["text"]
        assert "Message: blame @\u200bchannel" in attachment["text"].splitlines()


class TestPagerDutyNotifier(NotifierContract):
    @pytest.fixture
    def double(self, pagerduty):
        return pagerduty

    @pytest.fixture
    def make_notifier(self):
        return lambda url, timeout=5.0: PagerDutyNotifier(
            SERVICE_KEY, url=url + PATH, timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self):
        return [SERVICE_KEY]

    @pytest.fixture
    def expect_delivery(self, pagerduty):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            pagerduty.expect_event(
                status=status or 200, message=message, headers=headers, delay=delay
            )

        return expect

    def test_a_failure_triggers_an_incident_that_the_next_success_resolves(
        self, notifier, pagerduty, report
    ):
        pagerduty.expect_event(times=2)

        opened = notifier.send(report(S.FAILED), {}, None)
        notifier.send(report(S.SUCCEEDED, run_uuid="a-later-run"), {}, None)

        trigger, resolve = pagerduty.events()
        assert {key: trigger[key] for key in ("event_type", "incident_key", "description")} == {
            "event_type": "trigger",
            "incident_key": "axon/vision/train-on-push",
            "description": "vision/train-resnet50 failed after 12s",
        }
        assert (trigger["client"], trigger["client_url"]) == ("Axon", RUN_URL)
        assert trigger["details"]["message"] == "exit code 1"
        assert trigger["contexts"] == [{"type": "link", "href": RUN_URL, "text": "The run in Axon"}]
        assert (resolve["event_type"], resolve["incident_key"]) == (
            "resolve",
            "axon/vision/train-on-push",
        )
        assert opened == Receipt(
            "pagerduty",
            "axon/vision/train-on-push",
            {"incident_key": "axon/vision/train-on-push", "event_type": "trigger"},
        )

    def test_pagerdutys_403_is_throttling_and_so_transient(self, notifier, pagerduty, report):
        pagerduty.expect_event(status=403, message="Too many API calls at a time")

        with pytest.raises(TransientError, match="403"):
            notifier.send(report(S.FAILED), {}, None)

    def test_an_invalid_event_is_permanent_with_pagerdutys_errors(
        self, notifier, pagerduty, report
    ):
        pagerduty.expect_event(status=400)

        with pytest.raises(PermanentError, match="Event object is invalid: Service key is the"):
            notifier.send(report(S.FAILED), {}, None)

    def test_the_target_names_its_service_and_incident(self, pagerduty, report):
        pagerduty.expect_event()
        notifier = PagerDutyNotifier(url=pagerduty.events_url)

        notifier.send(report(S.FAILED), {"service_key": "f" * 32, "incident_key": "nightly"}, None)

        [event] = pagerduty.events()
        assert (event["service_key"], event["incident_key"]) == ("f" * 32, "nightly")

    def test_a_stopped_or_skipped_run_pages_nobody(self, notifier):
        assert not notifier.wants & {S.STOPPED, S.SKIPPED, S.RUNNING}
