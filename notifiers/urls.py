"""The outbound URL policy: a URL from user settings must not reach inside the network.

Features:
- Only http and https URLs are sent to.
- The host (a name or an IP literal, in any form the resolver reads, such as `2130706433`) is
  resolved; if any address is loopback, private, link-local, shared (100.64/10), multicast,
  reserved or unspecified, the URL is refused with a PermanentError naming the host and the
  kind of address, unless `allow_private` is set (a deployment whose targets are internal).
- A host that cannot be resolved is a TransientError: DNS may answer on the next try.
- Notifiers check only URLs that come from a target (a subscription's `report:` mapping,
  written by users); URLs from Axon's own settings are the operator's and are trusted. They
  also refuse redirects for such URLs, since a redirect could lead inside.
- The check runs before each request. A name that resolves to a public address now and a
  private one a moment later (DNS rebinding) is beyond it; deployments that must hold against
  that also route notifier traffic through an egress proxy or firewall.

Config: `allow_private` (bool), given to each notifier that sends to URLs from targets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from notifiers.base import PermanentError, TransientError

Resolver = Callable[..., list[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not private, not public


def check(
    url: str, *, what: str, allow_private: bool, resolve: Resolver = socket.getaddrinfo
) -> None:
    """Refuse `url` unless it is http(s) and its host is public (or `allow_private` is set).

    `what` names the sender in the error ("webhook target"); the URL itself never appears in
    one, since its path or query may be a credential.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise PermanentError(f"{what}: the URL is not valid") from None
    if parts.scheme not in {"http", "https"}:
        scheme = parts.scheme or "none"
        raise PermanentError(f"{what}: only http and https URLs are allowed, not {scheme!r}")
    host = parts.hostname
    if not host:
        raise PermanentError(f"{what}: the URL has no host")
    if allow_private:
        return
    default_port = 443 if parts.scheme == "https" else 80
    for address in _addresses(host, port or default_port, what, resolve):
        kind = non_public(address)
        if kind:
            raise PermanentError(
                f"{what}: refused: host {host!r} resolves to {address}, {kind}; "
                "targets inside the network need the allow_private setting"
            )


def non_public(address: IPAddress) -> str:
    """Why `address` is not a public internet address ("a loopback address"), or ""."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
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


def _addresses(host: str, port: int, what: str, resolve: Resolver) -> list[IPAddress]:
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TransientError(f"{what}: cannot resolve host {host!r}") from None
    # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"), which ip_address does not read.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
