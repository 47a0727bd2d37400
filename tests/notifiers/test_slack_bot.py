"""SlackNotifier with a bot token: a message posted when the run starts, updated when it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt, TransientError
from notifiers.slack import SlackNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import EditInPlaceContract
from tests.fakes.slack import SlackDouble
from tests.fakes.slack_api import CHANNEL_ID, SlackApiDouble

S = RunStatus


@pytest.fixture
def slack_api() -> Iterator[SlackApiDouble]:
    with SlackApiDouble() as double:
        yield double


class TestSlackBotNotifier(EditInPlaceContract):
    @pytest.fixture
    def double(self, slack_api):
        return slack_api

    @pytest.fixture
    def make_notifier(self, slack_api):
        return lambda url, timeout=5.0: SlackNotifier(
            token=slack_api.token, channel="#ml-runs", api_url=url + "/api", timeout=timeout
        )

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self, slack_api):
        return [slack_api.token]

    @pytest.fixture
    def expect_delivery(self, slack_api):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            error = "" if status is None else message or "internal_error"
            slack_api.expect_post(status=status or 200, error=error, headers=headers, delay=delay)

        return expect

    @pytest.fixture
    def expect_edit(self, slack_api):
        def expect(status=None, *, message=None, headers=None):
            error = "" if status is None else message or "internal_error"
            slack_api.expect_update(status=status or 200, error=error, headers=headers)

        return expect

    def test_the_message_posted_at_the_start_is_updated_at_the_end(
        self, notifier, slack_api, report
    ):
        slack_api.expect_post()
        slack_api.expect_update()

        running = notifier.send(report(S.RUNNING), {}, None)
        done = notifier.send(report(S.SUCCEEDED), {}, running)

        [(post, posted), (update, updated)] = slack_api.calls()
        assert (post, posted["channel"], posted["text"]) == (
            "chat.postMessage",
            "#ml-runs",
            ":arrow_forward: vision/train-resnet50 running",
        )
        assert (update, updated["channel"], updated["ts"]) == (
            "chat.update",
            CHANNEL_ID,
            done.data["ts"],
        )
        assert updated["text"] == ":white_check_mark: vision/train-resnet50 succeeded in 12s"
        assert updated["blocks"][0]["text"]["text"].endswith("succeeded in 12s")
        assert (
            done
            == running
            == Receipt(
                "slack", running.external_id, {"channel": CHANNEL_ID, "ts": running.external_id}
            )
        )

    def test_the_update_sends_only_what_chat_update_takes_and_every_call_says_utf_8(
        self, notifier, slack_api, report
    ):
        slack_api.expect_post()
        slack_api.expect_update()

        running = notifier.send(report(S.RUNNING, branch="café-🚀"), {}, None)
        notifier.send(report(S.SUCCEEDED, branch="café-🚀"), {}, running)

        post, update = slack_api.requests
        assert (post.verdict, update.verdict) == ("expected", "expected")
        assert post.json["unfurl_links"] is False
        assert set(update.json) == {"channel", "ts", "text", "blocks"}
        assert {r.headers["Content-Type"] for r in (post, update)} == {
            "application/json; charset=utf-8"
        }
        assert "café-🚀" in update.body.decode("utf-8")

    def test_slacks_ok_false_is_permanent_and_names_slacks_code(self, notifier, slack_api, report):
        slack_api.expect_post(error="channel_not_found")

        with pytest.raises(PermanentError, match="chat.postMessage 200 channel_not_found"):
            notifier.send(report(), {}, None)

    def test_ratelimited_is_transient_after_retry_after(self, notifier, slack_api, report):
        slack_api.expect_post(status=429, error="ratelimited", headers={"Retry-After": "3"})

        with pytest.raises(TransientError) as caught:
            notifier.send(report(), {}, None)

        assert caught.value.retry_after == 3

    def test_slacks_own_trouble_answered_with_200_is_transient(self, notifier, slack_api, report):
        slack_api.expect_post(error="service_unavailable")

        with pytest.raises(TransientError, match="service_unavailable"):
            notifier.send(report(), {}, None)

    def test_a_message_deleted_since_is_posted_anew(self, notifier, slack_api, report):
        slack_api.expect_post(times=2)
        slack_api.expect_update(error="message_not_found")
        running = notifier.send(report(S.RUNNING), {}, None)

        done = notifier.send(report(), {}, running)

        assert [method for method, _ in slack_api.calls()] == ["chat.postMessage"] * 2
        assert done.external_id != running.external_id

    def test_the_targets_channel_overrides_the_default(self, notifier, slack_api, report):
        slack_api.expect_post()

        notifier.send(report(), {"channel": "C0TEAM0001"}, None)

        assert slack_api.calls()[0][1]["channel"] == "C0TEAM0001"

    def test_without_any_channel_the_error_is_permanent(self, slack_api, report):
        notifier = SlackNotifier(token=slack_api.token, api_url=slack_api.api_url)

        with pytest.raises(PermanentError, match="no channel"):
            notifier.send(report(), {}, None)

    def test_a_targets_webhook_is_used_instead_and_hears_only_the_end(self, notifier, report):
        with SlackDouble() as webhook:
            webhook.expect_message()
            notifier.allow_private = True  # the webhook double is on loopback
            target = {"webhook_url": webhook.webhook_url}

            skipped = notifier.send(report(S.RUNNING), target, None)
            notifier.send(report(), target, skipped)

            assert len(webhook.messages()) == 1
            assert skipped.data == {"skipped": "a webhook cannot edit: final only"}
            webhook.assert_no_outstanding()
