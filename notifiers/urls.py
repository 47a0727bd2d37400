"""The outbound URL policy: a URL from a spec or a target must not reach inside the network.

Features:
- Only http and https URLs are sent to.
- A URL is read as the HTTP client reads it (urllib3's `parse_url`, which requests uses to
  pick the host) and as `urllib.parse` reads it; when the two disagree on the scheme, host,
  port or user part (`http://127.0.0.1:80\\@1.1.1.1/`), or the URL holds a backslash, a
  control character or white space, or more than one `@` before its host, it is refused. The
  host must be a plain name (ASCII letters, digits, `-`, `_`, `.`; a non-ASCII name in its
  punycode form) or an IP literal; no percent-escapes, no IPv6 zone.
- The host (a name or an IP literal, in any form the resolver reads, such as `2130706433`,
  `0x7f.1` or `0177.0.0.1`) is resolved; if any address is loopback, private, link-local,
  shared (100.64/10), multicast, reserved or unspecified (an IPv4-mapped IPv6 address counts
  as its IPv4 address), the URL is refused with a PermanentError naming the host and the kind
  of address, unless `allow_private` is set (a deployment whose targets are internal).
- A host that cannot be resolved is a TransientError: DNS may answer on the next try.
- The judged addresses are pinned: `Destination.pin(session)` makes the session connect to
  them and to nothing else, so a name that resolves to a public address when judged and to a
  private one a moment later (DNS rebinding) is still sent to the public one. TLS still
  checks the certificate against the name. Not covered: a proxy from the environment
  (HTTPS_PROXY) resolves the name itself; that proxy is the operator's egress.
- Redirects are judged hop by hop (`fetch`), or not followed at all (notifiers).

The rule: URLs from Axon's own settings (AXON_SLACK_WEBHOOK_URL, AXON_GITHUB_API_URL, ...) are
the operator's and are trusted; URLs written in specs and subscriptions (a report target's
`url` or `webhook_url`, an operation's `urlRef`) are not, and pass this policy.

Config: `allow_private` (bool), given to each notifier that sends to URLs from targets and
to the urlRef fetch (AXON_ALLOW_PRIVATE_URLS).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
)
from urllib3.util import connection, parse_url

from notifiers.base import PermanentError, TransientError

Resolver = Callable[..., list[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not private, not public
_NAME = re.compile(r"^[a-z0-9_.-]+$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # control characters, white space, backslash
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Destination:
    """Where a URL that passed the policy connects: its host, port and judged addresses.

    `addresses` is empty when `allow_private` skipped the judgement: then nothing is pinned.
    """

    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...] = ()

    def pin(self, session: requests.Session) -> None:
        """Make `session` connect only to the judged addresses, and only for this host."""
        if self.addresses:
            adapter = _PinnedAdapter(self)
            session.mount("http://", adapter)
            session.mount("https://", adapter)


def check(
    url: str, *, what: str, allow_private: bool, resolve: Resolver = socket.getaddrinfo
) -> Destination:
    """Refuse `url` unless it is an unambiguous http(s) URL whose host is public (or
    `allow_private` is set); return where it connects, to pin.

    `what` names the sender in the error ("webhook target"); the URL itself never appears in
    one, since its path or query may be a credential.
    """
    scheme, host, port = _parse(url, what)
    if allow_private:
        return Destination(scheme, host, port)
    addresses = _addresses(host, port, what, resolve)
    for address in addresses:
        kind = non_public(address)
        if kind:
            raise PermanentError(
                f"{what}: refused: host {host!r} resolves to {address}, {kind}; "
                "targets inside the network need the allow_private setting"
            )
    return Destination(scheme, host, port, tuple(dict.fromkeys(map(str, addresses))))


def choose(
    target_url: Any, own_url: str, *, what: str, allow_private: bool, missing: str
) -> tuple[str, Destination | None]:
    """The URL to send to, by the rule above: the target's, judged (with its Destination, to
    pin), else the notifier's own from Axon's settings (with None); PermanentError(`missing`)
    when neither is set."""
    url = str(target_url or "")
    if url:
        return url, check(url, what=what, allow_private=allow_private)
    if not own_url:
        raise PermanentError(missing)
    return own_url, None


def non_public(address: IPAddress) -> str:
    """Why `address` is not a public internet address ("a loopback address"), or ""."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 reaches 127.0.0.1, and 2002:7f00:1:: is 6to4 for it.
        address = address.ipv4_mapped or address.sixtofour or address
    checks = [
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address in _SHARED, "a shared (carrier-grade NAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    ]
    return next((kind for failed, kind in checks if failed), "")


def _parse(url: str, what: str) -> tuple[str, str, int]:
    """(scheme, host, port) as both parsers read them, or a PermanentError saying why not."""
    if _UNSAFE.search(url):
        raise PermanentError(
            f"{what}: the URL holds a backslash, white space or a control character"
        )
    try:
        mine, theirs = urlsplit(url), parse_url(url)
        port = mine.port
    except (ValueError, LocationParseError):
        raise PermanentError(f"{what}: the URL is not valid") from None
    scheme = mine.scheme.lower()
    if scheme not in {"http", "https"}:
        raise PermanentError(
            f"{what}: only http and https URLs are allowed, not {scheme or 'none'!r}"
        )
    host = mine.hostname or ""
    if not host:
        raise PermanentError(f"{what}: the URL has no host")
    userinfo = mine.netloc.rpartition("@")[0]
    same = (
        (theirs.scheme or "").lower() == scheme
        and (theirs.host or "").lower().strip("[]") == host
        and theirs.port == port
        and bool(theirs.auth) == bool(userinfo)
    )
    if not same or userinfo.count("@") or not _plain_host(host):
        raise PermanentError(
            f"{what}: the URL is ambiguous or its host is not a plain name or address"
        )
    return scheme, host, port or (443 if scheme == "https" else 80)


def _plain_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal; a zone ("%eth0") is refused with the rest
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return bool(_NAME.match(host))


def _addresses(host: str, port: int, what: str, resolve: Resolver) -> list[IPAddress]:
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TransientError(f"{what}: cannot resolve host {host!r}") from None
    # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"), which ip_address does not read.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]


def fetch(
    url: str,
    *,
    what: str,
    allow_private: bool,
    max_bytes: int,
    timeout: float = 10.0,
    resolve: Resolver = socket.getaddrinfo,
) -> bytes:
    """GET `url` under the policy: each redirect is judged as the first URL was, at most
    MAX_REDIRECTS of them; the body is cut after `max_bytes` + 1 bytes (so that a caller can
    tell it was too long). The exchange must end within `timeout` seconds, checked before each
    request and each read; a read waits at most what was left of it when the request went."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        destination = check(url, what=what, allow_private=allow_private, resolve=resolve)
        with requests.Session() as session:
            destination.pin(session)
            response = _get(session, url, what, deadline)
            with response:
                if not response.is_redirect:
                    return _body(response, what, max_bytes, deadline)
                url = urljoin(url, response.headers["Location"])
    raise PermanentError(f"{what}: more than {MAX_REDIRECTS} redirects")


def _get(session: requests.Session, url: str, what: str, deadline: float) -> requests.Response:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TransientError(f"{what}: no answer in time")
    try:
        # Compressed bodies would grow past the size cap only once inflated.
        response = session.get(
            url,
            timeout=left,
            stream=True,
            allow_redirects=False,
            headers={"Accept-Encoding": "identity"},
        )
    except requests.Timeout:
        raise TransientError(f"{what}: no answer in time") from None
    except requests.RequestException as exc:
        raise TransientError(f"{what}: cannot connect ({type(exc).__name__})") from None
    if response.status_code >= 400 or (response.status_code >= 300 and not response.is_redirect):
        response.close()
        raise PermanentError(f"{what}: answered {response.status_code} {response.reason}")
    return response


def _body(response: requests.Response, what: str, max_bytes: int, deadline: float) -> bytes:
    body = bytearray()
    try:
        # read1 returns what has arrived: a body dripped byte by byte still meets the deadline.
        while len(body) <= max_bytes:
            if time.monotonic() > deadline:
                raise TransientError(f"{what}: the body did not arrive in time")
            chunk = response.raw.read1(64 * 1024, decode_content=False)
            if not chunk:
                break
            body += chunk
    except (requests.RequestException, HTTPError, OSError) as exc:
        raise TransientError(f"{what}: the body was cut ({type(exc).__name__})") from None
    return bytes(body[: max_bytes + 1])


def _connect(conn: HTTPConnection, destination: Destination) -> socket.socket:
    """A socket to one of the judged addresses, in the resolver's order."""
    if conn.host.lower().strip("[]") != destination.host.rstrip(".") or conn.port != (
        destination.port
    ):
        raise NewConnectionError(conn, "refused: not the host the URL policy judged")
    failure: OSError | None = None
    for address in destination.addresses:
        try:
            return connection.create_connection(
                (address, destination.port),
                conn.timeout,  # type: ignore[arg-type]
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from exc
        except OSError as exc:
            failure = exc
    raise NewConnectionError(conn, f"failed to establish a new connection: {failure}")


class _PinnedAdapter(HTTPAdapter):
    """Connection pools whose connections open sockets to the judged addresses only."""

    def __init__(self, destination: Destination) -> None:
        self._destination = destination
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        destination = self._destination

        class PinnedHTTP(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                return _connect(self, destination)

        class PinnedHTTPS(HTTPSConnection):
            def _new_conn(self) -> socket.socket:
                return _connect(self, destination)

        class PinnedHTTPPool(HTTPConnectionPool):
            ConnectionCls = PinnedHTTP

        class PinnedHTTPSPool(HTTPSConnectionPool):
            ConnectionCls = PinnedHTTPS

        self.poolmanager.pool_classes_by_scheme = {
            "http": PinnedHTTPPool,
            "https": PinnedHTTPSPool,
        }
