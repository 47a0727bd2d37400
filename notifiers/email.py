"""Email over SMTP: one message per finished run, as text and HTML, to the target's recipients.

Features:
- SMTP with STARTTLS (`security` "starttls", the default, port 587), implicit TLS ("ssl",
  port 465) or neither ("none", port 25: a relay on the same host). The server's certificate
  is verified against the system's CAs, or against `ca_file`.
- AUTH (smtplib picks PLAIN or LOGIN from what the server offers) when a username is set.
- multipart/alternative: text/plain (headline, reason, facts, outputs, link) and text/html
  (the same as tables, every value HTML-escaped). Subject "[Axon] vision/train-resnet50
  succeeded in 12s"; Message-ID, Date, `Auto-Submitted: auto-generated` (RFC 3834, so
  autoresponders stay quiet) and `X-Axon-Run: <uuid>`.
- Text in other scripts, emoji and `—` make the body 8-bit: sent with BODY=8BITMIME to a
  server that offers the extension (RFC 6152), else as quoted-printable, in 7 bits.
- Recipients: the target's `to` (a list, or addresses separated by commas), else the
  notifier's `recipients`. Some refused while others took the message: sent, and the
  receipt lists the refused.
- 4xx replies, a dropped connection, a refused connection or a timeout are TransientErrors;
  5xx replies (a refused login or sender, every recipient refused) are PermanentErrors with
  the server's reply; so is a certificate that does not verify. The password never appears.

Config (target keys):
- to: the recipients.
The notifier itself takes host, port (0: by security), username, password, security, sender,
recipients, ca_file and timeout.

Receipt: external_id is the Message-ID; data has recipients (accepted) and refused.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape
from typing import Any, Literal

from pydantic import Field

from notifiers import http, render
from notifiers.base import (
    Notifier,
    PermanentError,
    Receipt,
    Report,
    TransientError,
    format_duration,
)
from schemas.settings import PluginSettings, SettingsConfigDict, setting

PORTS = {"starttls": 587, "ssl": 465, "none": 25}
# A bare address: a line break or a second address in one would rewrite the message's headers.
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


class EmailSettings(PluginSettings):
    """The `AXON_SMTP_*` variables and `AXON_EMAIL_RECIPIENTS`."""

    model_config = SettingsConfigDict(env_prefix="AXON_SMTP_")
    shared = ("timeout",)

    host: str = setting("", "the SMTP server")
    port: int = setting(0, "its port", shown="`0`: 587, 465 or 25 by `AXON_SMTP_SECURITY`")
    username: str = setting("", "the SMTP login")
    password: str = setting("", "its password", secret=True)
    security: Literal["starttls", "ssl", "none"] = setting(
        "starttls", "`starttls`, `ssl` or `none`"
    )
    sender: str = setting("axon@localhost", "the From address")
    recipients: str = Field(
        "",
        validation_alias="AXON_EMAIL_RECIPIENTS",
        description="default recipients, comma-separated",
    )


class EmailNotifier(Notifier):
    """Sends a text + HTML email per finished run through an SMTP server."""

    name = "email"

    def __init__(
        self,
        host: str = "",
        port: int = 0,
        username: str = "",
        password: str = "",
        security: str = "starttls",
        sender: str = "axon@localhost",
        recipients: str | list[str] = "",
        ca_file: str = "",
        timeout: float = 10,
    ) -> None:
        if security not in PORTS:
            raise ValueError(f"email: security must be one of {sorted(PORTS)}, not {security!r}")
        self.host = host
        self.port = int(port) or PORTS[security]
        self.username = username
        self._password = password
        self.security = security
        self.sender = sender
        self.recipients = addresses(recipients)
        self.ca_file = ca_file
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"EmailNotifier(host={self.host!r}, port={self.port}, security={self.security!r})"

    def send(self, report: Report, target: dict[str, Any], previous: Receipt | None) -> Receipt:
        """Required. Send one message to the target's recipients."""
        recipients = addresses(target.get("to")) or self.recipients
        if not recipients:
            raise PermanentError("email: no recipients, neither `to` in the target nor settings")
        malformed = [address for address in recipients if not _ADDRESS.fullmatch(address)]
        if malformed:
            raise PermanentError(f"email: not an email address: {', '.join(map(repr, malformed))}")
        if not self.host:
            raise PermanentError("email: no SMTP host in the notifier's settings")
        what = f"email via {self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self._password)
                message, refused = self._send(smtp, report, recipients)
        except Exception as exc:
            raise self._error(what, exc) from None
        accepted = [address for address in recipients if address not in refused]
        data = {"recipients": accepted, "refused": sorted(refused)}
        return Receipt(self.name, external_id=str(message["Message-ID"]), data=data)

    def _send(
        self, smtp: smtplib.SMTP, report: Report, recipients: list[str]
    ) -> tuple[EmailMessage, dict[str, tuple[int, bytes]]]:
        """Send the message, declaring 8-bit content, or in 7 bits to a server without it."""
        smtp.ehlo_or_helo_if_needed()
        eight_bit = smtp.has_extn("8bitmime")
        message = self.message(report, recipients, eight_bit=eight_bit)
        # RFC 6152: 8-bit content goes only to a server that offers 8BITMIME, and only when
        # MAIL FROM says BODY=8BITMIME; without it a relay may refuse or mangle the message.
        # smtplib declares it itself, beside SMTPUTF8, for an address that is not ASCII.
        ascii_addresses = "".join([self.sender, *recipients]).isascii()
        options = ["BODY=8BITMIME"] if eight_bit and ascii_addresses and _has_8bit(message) else []
        return message, smtp.send_message(message, mail_options=options)

    def message(
        self, report: Report, recipients: list[str], *, eight_bit: bool = True
    ) -> EmailMessage:
        """The message; with `eight_bit` False, every part in a 7-bit transfer encoding."""
        cte = None if eight_bit else "quoted-printable"
        message = EmailMessage()
        message["Subject"] = f"[Axon] {render.one_line(render.headline(report))}"
        message["From"] = self.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        message["Message-ID"] = make_msgid("axon", domain=domain or None)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Axon-Run"] = report.run_uuid
        message.set_content(text(report), cte=cte)
        message.add_alternative(html(report), subtype="html", cte=cte)
        return message

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _error(self, what: str, exc: Exception) -> Exception:
        """The TransientError or PermanentError for what smtplib or the socket raised."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            replies = [f"{to}: {code} {_text(r)}" for to, (code, r) in exc.recipients.items()]
            return self._by_code(
                min(codes), f"{what}: every recipient refused: " + "; ".join(replies)
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._by_code(exc.smtp_code, f"{what}: {exc.smtp_code} {_text(exc.smtp_error)}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PermanentError(f"{what}: {_text(str(exc))}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or "unknown reason"
            return PermanentError(f"{what}: the server's certificate does not verify ({reason})")
        if isinstance(exc, TimeoutError):
            return TransientError(f"{what}: no answer within {self.timeout:g}s")
        if isinstance(exc, OSError):  # refused, reset, disconnected, a failed TLS handshake
            return TransientError(f"{what}: cannot connect ({type(exc).__name__})")
        return PermanentError(f"{what}: not sent ({type(exc).__name__})")

    def _by_code(self, code: int, message: str) -> Exception:
        # SMTP's 4xx means "try again later"; 5xx means "not like this".
        message = http.mask(message, (self._password,))
        return TransientError(message) if 400 <= code < 500 else PermanentError(message)


def _has_8bit(message: EmailMessage) -> bool:
    return any(byte > 127 for byte in message.as_bytes())


def addresses(value: Any) -> list[str]:
    """Recipients from a list, or from addresses separated by commas."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(item).strip() for item in items if str(item).strip()]


def text(report: Report) -> str:
    lines = [render.headline(report)]
    why = render.why(report)
    lines += [why, ""] if why else [""]
    lines += [f"{label}: {value}" for label, value in _facts(report)]
    if report.comparisons:
        lines += ["", f"Outputs (against {report.base_branch or 'the base branch'}):"]
        for item in report.comparisons:
            base = "none" if item.base is None else render.value(item.base)
            change = ", ".join(part for part in (render.delta(item), item.verdict) if part)
            lines.append(f"  {item.name}: {render.value(item.value)} (base {base}; {change})")
    elif report.outputs:
        lines += ["", "Outputs:"]
        lines += [f"  {key}: {render.value(value)}" for key, value in report.outputs.items()]
    lines += ["", report.regression] if report.regression else []
    lines += ["", report.url] if report.url else []
    return "\n".join(lines) + "\n"


def html(report: Report) -> str:
    title = escape(render.run_title(report))
    if report.url:
        title = f'<a href="{escape(report.url)}">{title}</a>'
    color = render.color(report.status)
    parts = [f'<h2 style="color:{color}">{title} {escape(render.verb(report))}</h2>']
    why = render.why(report)
    parts += [f"<p><code>{escape(why)}</code></p>"] if why else []
    parts.append(_table([], [[f"<b>{escape(k)}</b>", escape(v)] for k, v in _facts(report)]))
    if report.comparisons:
        heading = ["Output", "This run", escape(report.base_branch or "Base"), "Δ", ""]
        rows = [
            [c.name, render.value(c.value), "—" if c.base is None else render.value(c.base)]
            + [render.delta(c), c.verdict]
            for c in report.comparisons
        ]
        rows = [[escape(cell) for cell in row] for row in rows]
        parts.append(_table(heading, rows))
    elif report.outputs:
        rows = [[escape(str(k)), escape(render.value(v))] for k, v in report.outputs.items()]
        parts.append(_table(["Output", "Value"], rows))
    parts += [f"<p><b>{escape(report.regression)}</b></p>"] if report.regression else []
    body = "\n".join(parts)
    return f'<!doctype html>\n<html><body style="font-family:sans-serif">\n{body}\n</body></html>\n'


def _facts(report: Report) -> list[tuple[str, str]]:
    facts = [("Status", render.label(report.status))]
    if report.duration is not None:
        facts.append(("Duration", format_duration(report.duration)))
    if report.repo:
        commit = f"{report.repo}@{report.sha[:7]}" if report.sha else report.repo
        branch = report.branch or report.ref
        facts.append(("Commit", f"{commit} ({branch})" if branch else commit))
    if report.pull_request is not None:
        facts.append(("Pull request", f"#{report.pull_request}"))
    return facts


def _table(heading: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th align=left>{cell}</th>" for cell in heading)
    lines = [f"<tr>{head}</tr>"] if heading else []
    lines += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    return "<table cellpadding=4>\n" + "\n".join(lines) + "\n</table>"


def _text(reply: bytes | str) -> str:
    return render.one_line(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)
