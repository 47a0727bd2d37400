"""A real SMTP server (aiosmtpd) on 127.0.0.1 and a free port, keeping what it receives.

    with SmtpServer(security="starttls", certificate=cert, users={"axon": "s3cret"}) as smtp:
        ...  # send to smtp.host, smtp.port; trust cert.path
        [received] = smtp.wait_for(1)
        received.message.get_body("html")

The server offers 8BITMIME unless `eight_bit_mime=False`, and refuses 8-bit content that MAIL
FROM did not declare with BODY=8BITMIME. `expect(count)` says how many messages should arrive;
`refuse(address, reply)` makes RCPT TO refuse an address; `fail_next(reply)` makes the next
DATA fail. `assert_no_outstanding()` fails when other than the expected number of messages
arrived, or a scripted failure was not used.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1, and its key."""

    path: Path
    key: Path

    @classmethod
    def make(cls, directory: Path) -> Certificate:
        cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
        # An EC key: generated in milliseconds, where RSA takes a noticeable while.
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        return cls(cert, key)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.path, self.key)
        return context


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str  # the user who authenticated, "" when none did
    tls: bool
    mail_options: tuple[str, ...] = ()  # MAIL FROM's parameters, e.g. ("BODY=8BITMIME",)

    @property
    def eight_bit(self) -> bool:
        """Whether the content has a byte above 127."""
        return any(byte > 127 for byte in self.content)

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Bound to port 0, the server knows its port only now; aiosmtpd's check needs it.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """aiosmtpd, with `security` "none", "starttls" (required) or "ssl", and optional AUTH."""

    def __init__(
        self,
        *,
        security: str = "none",
        certificate: Certificate | None = None,
        users: dict[str, str] | None = None,
        eight_bit_mime: bool = True,
    ) -> None:
        if security != "none" and certificate is None:
            raise ValueError(f"security {security!r} needs a certificate")
        self.security = security
        self.eight_bit_mime = eight_bit_mime
        self.users = dict(users or {})
        self.received: list[Received] = []
        self.refusals: dict[str, str] = {}
        self.failures: list[str] = []
        self.expected = 0
        self._lock = threading.Condition()
        context = certificate.server_context() if certificate else None
        kwargs: dict[str, Any] = {"server_hostname": "smtp.axon.test", "ready_timeout": 5}
        if security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif security == "ssl":
            kwargs.update(ssl_context=context)
        if self.users:
            # Over implicit TLS aiosmtpd cannot tell the connection is encrypted and would hide
            # AUTH, and it warns when AUTH is required without TLS: so AUTH is required only
            # with STARTTLS, and elsewhere offered (the tests' client logs in all the same).
            starttls = security == "starttls"
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=starttls,
                auth_require_tls=starttls,
            )
        self._controller = _Controller(self, hostname="127.0.0.1", port=0, **kwargs)

    host = "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    def expect(self, count: int = 1) -> None:
        """`count` more messages should arrive before the test ends."""
        with self._lock:
            self.expected += count

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        self.refusals[address] = reply

    def fail_next(self, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self.failures.append(reply)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"waited {timeout:g}s for {count} messages")
            return list(self.received)

    def assert_no_outstanding(self) -> None:
        with self._lock:
            got, failures = len(self.received), list(self.failures)
        assert got == self.expected, f"expected {self.expected} messages, received {got}"
        assert not failures, f"scripted failures not used: {failures}"

    # -- aiosmtpd's handler hooks ------------------------------------------------------------

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:  # noqa: N802
        session.host_name = hostname
        if self.eight_bit_mime:
            return responses
        return [line for line in responses if line[4:].upper() != "8BITMIME"]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        with self._lock:
            if self.failures:
                return self.failures.pop(0)
            login = session.auth_data.login.decode() if session.auth_data else ""
            received = Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or envelope.content),
                login=login,
                tls=session.ssl is not None or self.security == "ssl",
                mail_options=tuple(option.upper() for option in envelope.mail_options),
            )
            # RFC 6152: 8-bit content needs the extension offered and BODY=8BITMIME declared;
            # without them a relay may refuse it, or strip the eighth bit on the way.
            declared = self.eight_bit_mime and "BODY=8BITMIME" in received.mail_options
            if received.eight_bit and not declared:
                return "554 5.6.1 8-bit content without BODY=8BITMIME"
            self.received.append(received)
            self._lock.notify_all()
        return "250 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
