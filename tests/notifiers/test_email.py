"""EmailNotifier: a finished run becomes a text + HTML email, received by a real SMTP server."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator

import pytest

from notifiers.base import Comparison, PermanentError, TransientError
from notifiers.email import EmailNotifier
from schemas.status import RunStatus
from tests.contracts.notifier import NotifierBasics
from tests.fakes.smtp import Certificate, SmtpServer

PASSWORD = "s3cret-sMtP-pAsSwOrD"
TEAM = ["ml-team@example.com", "lead@example.com"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Certificate:
    return Certificate.make(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp(certificate) -> Iterator[SmtpServer]:
    """STARTTLS required, then AUTH as axon: what a mail provider's submission port asks."""
    with SmtpServer(
        security="starttls", certificate=certificate, users={"axon": PASSWORD}
    ) as server:
        yield server
        server.assert_no_outstanding()


def notifier_for(server: SmtpServer, certificate: Certificate, **changes) -> EmailNotifier:
    settings = {
        "host": server.host,
        "port": server.port,
        "username": "axon",
        "password": PASSWORD,
        "security": server.security,
        "sender": "Axon <axon@ci.example.com>",
        "ca_file": str(certificate.path),
        "timeout": 5,
        **changes,
    }
    return EmailNotifier(**settings)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestEmailNotifier(NotifierBasics):
    @pytest.fixture
    def notifier(self, smtp, certificate):
        return notifier_for(smtp, certificate)

    def test_a_finished_run_arrives_as_text_and_html_over_starttls_as_the_user(
        self, notifier, smtp, report
    ):
        smtp.expect(1)

        receipt = notifier.send(report(RunStatus.SUCCEEDED), {"to": TEAM}, None)

        [received] = smtp.wait_for(1)
        assert (received.tls, received.login, received.rcpt_tos) == (True, "axon", TEAM)
        message = received.message
        assert message["Subject"] == "[Axon] vision/train-resnet50 succeeded in 12s"
        assert message["From"] == "Axon <axon@ci.example.com>"
        assert message["To"] == "ml-team@example.com, lead@example.com"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Axon-Run"] == "3f1c9a52e8d44b0f9a6f0c1d2e3b4a5c"
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert text.splitlines()[:2] == ["vision/train-resnet50 succeeded in 12s", ""]
        assert "  accuracy: 0.93" in text.splitlines()
        assert "https://axon.example.com/projects/vision/runs/3f1c9a52" in text
        assert "<tr><td>accuracy</td><td>0.93</td></tr>" in html
        assert receipt.external_id == message["Message-ID"]
        assert receipt.data == {"recipients": TEAM, "refused": []}

    def test_the_comparison_with_the_base_branch_is_in_both_parts(self, notifier, smtp, report):
        smtp.expect(1)
        compared = (Comparison("accuracy", 0.93, 0.91, 0.02, "better"),)

        notifier.send(report(comparisons=compared, base_branch="main"), {"to": TEAM}, None)

        message = smtp.wait_for(1)[0].message
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "  accuracy: 0.93 (base 0.91; +0.02, better)" in text.splitlines()
        assert (
            "<tr><td>accuracy</td><td>0.93</td><td>0.91</td><td>+0.02</td><td>better</td></tr>"
            in html
        )

    def test_text_from_the_event_is_escaped_in_the_html(self, notifier, smtp, report):
        smtp.expect(1)

        notifier.send(
            report(RunStatus.FAILED, message="<script>alert(1)</script>"), {"to": TEAM}, None
        )

        html = smtp.wait_for(1)[0].message.get_body(("html",)).get_content()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    def test_recipients_come_from_the_settings_when_the_target_names_none(
        self, smtp, certificate, report
    ):
        smtp.expect(1)
        notifier = notifier_for(smtp, certificate, recipients="ops@example.com, ml@example.com")

        notifier.send(report(), {}, None)

        assert smtp.wait_for(1)[0].rcpt_tos == ["ops@example.com", "ml@example.com"]

    def test_without_recipients_the_error_is_permanent(self, notifier, smtp, report):
        with pytest.raises(PermanentError, match="no recipients"):
            notifier.send(report(), {}, None)

    def test_a_recipient_that_is_not_one_address_is_refused_before_connecting(
        self, notifier, smtp, report
    ):
        forged = "ml@example.com\r\nBcc: everyone@example.com"

        with pytest.raises(PermanentError, match="not an email address"):
            notifier.send(report(), {"to": [forged]}, None)

    def test_the_message_id_is_in_the_senders_domain(self, notifier, smtp, report):
        smtp.expect(1)

        receipt = notifier.send(report(), {"to": TEAM}, None)

        assert receipt.external_id.endswith("@ci.example.com>")
        smtp.wait_for(1)

    def test_a_recipient_refused_while_others_took_it_is_listed_in_the_receipt(
        self, notifier, smtp, report
    ):
        smtp.expect(1)
        smtp.refuse("lead@example.com")

        receipt = notifier.send(report(), {"to": TEAM}, None)

        assert smtp.wait_for(1)[0].rcpt_tos == ["ml-team@example.com"]
        assert receipt.data == {
            "recipients": ["ml-team@example.com"],
            "refused": ["lead@example.com"],
        }

    def test_every_recipient_refused_is_permanent_with_the_servers_reply(
        self, notifier, smtp, report
    ):
        smtp.refuse("ml-team@example.com")

        with pytest.raises(PermanentError, match="ml-team@example.com: 550 5.1.1 No such user"):
            notifier.send(report(), {"to": ["ml-team@example.com"]}, None)

    def test_a_server_saying_try_later_is_transient(self, notifier, smtp, report):
        smtp.fail_next("451 4.3.0 Mail server temporarily rejected message")

        with pytest.raises(TransientError, match="451 4.3.0 Mail server temporarily rejected"):
            notifier.send(report(), {"to": TEAM}, None)

    def test_a_wrong_password_is_permanent_and_never_shown(self, smtp, certificate, report):
        wrong = "wr0ng-pAsSwOrD-n0t-sh0wn"
        notifier = notifier_for(smtp, certificate, password=wrong)

        with pytest.raises(PermanentError, match="535") as caught:
            notifier.send(report(), {"to": TEAM}, None)

        text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
        assert wrong not in text and PASSWORD not in text

    def test_a_certificate_that_does_not_verify_is_permanent(self, smtp, certificate, report):
        notifier = notifier_for(smtp, certificate, ca_file="")  # only the system's CAs

        with pytest.raises(PermanentError, match="certificate does not verify"):
            notifier.send(report(), {"to": TEAM}, None)

    def test_an_unreachable_server_is_transient(self, certificate, report):
        notifier = EmailNotifier(host="127.0.0.1", port=_free_port(), security="none", timeout=2)

        with pytest.raises(TransientError, match="cannot connect"):
            notifier.send(report(), {"to": TEAM}, None)


def test_implicit_tls_delivers_too(certificate, report):
    with SmtpServer(security="ssl", certificate=certificate, users={"axon": PASSWORD}) as smtp:
        smtp.expect(1)

        notifier_for(smtp, certificate).send(report(), {"to": TEAM}, None)

        [received] = smtp.wait_for(1)
        assert (received.tls, received.login) == (True, "axon")
        smtp.assert_no_outstanding()


def test_a_relay_without_tls_or_auth_delivers(report):
    with SmtpServer() as smtp:
        smtp.expect(1)
        notifier = EmailNotifier(host=smtp.host, port=smtp.port, security="none", timeout=5)

        notifier.send(report(RunStatus.FAILED), {"to": "oncall@example.com"}, None)

        [received] = smtp.wait_for(1)
        assert received.message["Subject"] == "[Axon] vision/train-resnet50 failed after 12s"
        assert received.tls is False
        smtp.assert_no_outstanding()


def test_an_8_bit_body_is_declared_with_8bitmime(certificate, report):
    with SmtpServer(security="starttls", certificate=certificate, users={"axon": PASSWORD}) as smtp:
        smtp.expect(1)
        notifier = notifier_for(smtp, certificate)

        notifier.send(report(RunStatus.FAILED, message="Größe ≠ 3 🚀"), {"to": TEAM}, None)

        [received] = smtp.wait_for(1)
        assert received.eight_bit
        assert "BODY=8BITMIME" in received.mail_options
        text = received.message.get_body(("plain",)).get_content()
        assert "Größe ≠ 3 🚀" in text.splitlines()
        smtp.assert_no_outstanding()


def test_a_server_without_8bitmime_gets_the_body_in_7_bits(report):
    with SmtpServer(eight_bit_mime=False) as smtp:
        smtp.expect(1)
        notifier = EmailNotifier(host=smtp.host, port=smtp.port, security="none", timeout=5)

        notifier.send(report(RunStatus.FAILED, message="Größe ≠ 3 🚀"), {"to": TEAM}, None)

        [received] = smtp.wait_for(1)
        assert not received.eight_bit
        assert "BODY=8BITMIME" not in received.mail_options
        text = received.message.get_body(("plain",)).get_content()
        html = received.message.get_body(("html",)).get_content()
        assert "Größe ≠ 3 🚀" in text.splitlines()
        assert "<code>Größe ≠ 3 🚀</code>" in html
        smtp.assert_no_outstanding()


def test_an_unknown_security_setting_is_refused_at_construction():
    with pytest.raises(ValueError, match="security must be one of"):
        EmailNotifier(host="smtp.example.com", security="tls")
