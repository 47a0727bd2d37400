"""SlackNotifier: a finished run becomes one message on a Slack incoming webhook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifiers.base import PermanentError, Receipt
from notifiers.slack import SlackNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierContract
from tests.fakes.slack import SlackDouble

RUN_URL = "https://axon.example.com/projects/vision/runs/3f1c9a52"


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    with SlackDouble() as double:
        yield double


def _shown(message: dict) -> list[str]:
    """Every mrkdwn text the message's blocks show: section texts and fields, in order."""
    texts = []
    for block in message["blocks"]:
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [field["text"] for field in block.get("fields", [])]
    return texts


class TestSlackNotifier(NotifierContract):
    @pytest.fixture
    def double(self, slack):
        return slack

    @pytest.fixture
    def make_notifier(self, slack):
        return lambda url, timeout=5.0: SlackNotifier(url + slack.path, timeout=timeout)

    @pytest.fixture
    def target(self):
        return {}

    @pytest.fixture
    def secrets(self, slack):
        return [slack.secret, slack.path]

    @pytest.fixture
    def expect_delivery(self, slack):
        def expect(status=None, *, message=None, headers=None, delay=0.0):
            body = "ok" if status is None else message or "internal_error"
            slack.expect_message(status=status or 200, body=body, headers=headers, delay=delay)

        return expect

    def test_a_success_reads_as_a_sentence_with_the_duration(self, notifier, slack, report):
        slack.expect_message()

        receipt = notifier.send(report(RunStatus.SUCCEEDED), {}, None)

        [message] = slack.messages()
        assert message["text"] == ":white_check_mark: vision/train-resnet50 succeeded in 12s"
        assert receipt == Receipt(target="slack")

    def test_the_run_name_links_to_the_run(self, notifier, slack, report):
        slack.expect_message()

        notifier.send(report(RunStatus.SUCCEEDED), {}, None)

        headline = slack.messages()[0]["blocks"][0]["text"]["text"]
        assert headline == (
            f":white_check_mark: *<{RUN_URL}|vision/train-resnet50>* succeeded in 12s"
        )

    def test_the_message_lists_the_runs_outputs(self, notifier, slack, report):
        slack.expect_message()

        notifier.send(report(RunStatus.SUCCEEDED), {}, None)

        shown = _shown(slack.messages()[0])
        assert shown[-3:] == ["*Outputs*", "*accuracy*\n0.93", "*loss*\n0.214"]

    def test_the_message_gives_status_duration_commit_and_branch(self, notifier, slack, report):
        slack.expect_message()

        notifier.send(report(RunStatus.SUCCEEDED, pull_request=17), {}, None)

        fields = [field["text"] for field in slack.messages()[0]["blocks"][1]["fields"]]
        assert fields == [
            "*Status*\nsucceeded",
            "*Duration*\n12s",
            "*Commit*\nocto-org/vision@9fceb02 (main)",
            "*Pull request*\n#17",
        ]

    def test_a_failure_says_why(self, notifier, slack, report):
        slack.expect_message()

        notifier.send(report(RunStatus.FAILED), {}, None)

        [message] = slack.messages()
        assert message["text"] == ":x: vision/train-resnet50 failed after 12s: exit code 1"
        assert _shown(message)[0].endswith("failed after 12s\n>exit code 1")

    def test_a_long_run_shows_minutes_and_hours(self, notifier, slack, report):
        slack.expect_message(times=2)

        notifier.send(report(duration=754.0), {}, None)
        notifier.send(report(duration=7384.0), {}, None)

        texts = [message["text"] for message in slack.messages()]
        assert [text.rsplit(" in ", 1)[1] for text in texts] == ["12m 34s", "2h 03m"]

    def test_text_from_the_event_cannot_forge_mentions_or_links(self, notifier, slack, report):
        slack.expect_message()

        notifier.send(report(branch="<!channel> & <https://evil.example|main>"), {}, None)

        shown = _shown(slack.messages()[0])
        escaped = "&lt;!channel&gt; &amp; &lt;https://evil.example|main&gt;"
        assert f"*Commit*\nocto-org/vision@9fceb02 ({escaped})" in shown
        assert not any("<!channel>" in text for text in shown)

    def test_a_long_reason_full_of_characters_to_escape_stays_within_slacks_limits(
        self, notifier, slack, report
    ):
        slack.expect_message()
        # Each `<` becomes `&lt;`: 1,000 characters of them are 4,000 once escaped.
        message = "<" * 5000
        branch = "&" * 3000
        outputs = {"<" * 1000: "&" * 300}

        notifier.send(
            report(RunStatus.FAILED, message=message, branch=branch, outputs=outputs), {}, None
        )

        [request] = slack.requests
        assert request.verdict == "expected"
        sent = request.json
        assert all(len(text) <= 2000 for text in _shown(sent)[1:])
        assert len(_shown(sent)[0]) <= 3000 and len(sent["text"]) <= 4000
        # The cut falls between entities, never inside one.
        assert _shown(sent)[0].endswith("&lt;…")
        assert sent["text"].endswith("&lt;…")

    def test_many_outputs_stay_within_slacks_ten_fields(self, notifier, slack, report):
        slack.expect_message()
        outputs = {f"metric_{n:02d}": n / 100 for n in range(15)}

        notifier.send(report(outputs=outputs), {}, None)

        fields = slack.messages()[0]["blocks"][2]["fields"]
        assert len(fields) == 10
        assert fields[-1]["text"] == "*…*\n6 more"

    def test_a_revoked_webhook_is_permanent_and_names_slacks_code(self, notifier, slack, report):
        slack.expect_message(status=404, body="no_team")

        with pytest.raises(PermanentError, match="404 no_team") as caught:
            notifier.send(report(), {}, None)

        assert slack.secret not in str(caught.value)

    def test_a_payload_slack_rejects_is_permanent(self, notifier, slack, report):
        slack.expect_message(status=400, body="invalid_payload")

        with pytest.raises(PermanentError, match="invalid_payload"):
            notifier.send(report(), {}, None)

    def test_the_targets_webhook_url_overrides_the_default(self, slack, report):
        slack.expect_message()
        default = "https://hooks.slack.invalid/services/T0/B0/default"
        notifier = SlackNotifier(default, allow_private=True)  # the double is on loopback

        notifier.send(report(), {"webhook_url": slack.webhook_url}, None)

        assert len(slack.messages()) == 1

    def test_a_targets_webhook_url_inside_the_network_is_refused_without_allow_private(
        self, notifier, slack, report
    ):
        with pytest.raises(PermanentError, match="127.0.0.1, a loopback address") as caught:
            notifier.send(report(), {"webhook_url": slack.webhook_url}, None)

        assert slack.requests == []
        assert slack.secret not in str(caught.value)

    def test_a_webhook_cannot_edit_so_it_wants_only_final_statuses(self, notifier):
        assert RunStatus.RUNNING not in notifier.wants

    def test_without_any_webhook_url_the_error_is_permanent(self, slack, report):
        with pytest.raises(PermanentError, match="no webhook_url"):
            SlackNotifier().send(report(), {}, None)

        assert slack.requests == []
