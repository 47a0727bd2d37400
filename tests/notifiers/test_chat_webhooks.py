"""Discord and Mattermost webhooks, in Polyaxon's shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt
from notifiers.discord import DiscordNotifier
from notifiers.mattermost import MattermostNotifier
from notifiers.render import GREEN, RED
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierContract
from tests.fakes.discord import DiscordDouble
from tests.fakes.mattermost import MattermostDouble

S = RunStatus
RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"


@pytest.fixture
def discord() -> Iterator[DiscordDouble]:
    with DiscordDouble() as double:
        yield double


@pytest.fixture
def mattermost() -> Iterator[MattermostDouble]:
    with MattermostDouble() as double:
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
