"""What a runner needs to forward one HTTP request to a run's service, and what comes back.

The core checks who may open the service and strips its own credentials; a runner only carries
the request to the service and its answer back, streamed both ways. A WebSocket handshake
(`upgrade`) that the service accepts comes back as a 101 with the connection itself
(`Upgraded`), which the core then relays byte for byte.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceRequest:
    """One request for a run's service. `path` is what the service receives (it starts with
    `/`), `query` the raw query string without `?`, `port` the service port (None: the first).
    `upgrade`: a WebSocket handshake (`headers` carry its Sec-WebSocket-* fields), answered by a
    101 with `ServiceResponse.upgraded` set, or by an ordinary answer when refused."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: Iterable[bytes] | None = None
    port: int | None = None
    upgrade: bool = False


@dataclass
class Upgraded:
    """The connection to the service once it switched protocols: bytes go both ways on `sock`;
    `early` is what arrived right behind the 101 and must reach the client first."""

    sock: socket.socket
    early: bytes = b""

    def close(self) -> None:
        self.sock.close()


@dataclass
class ServiceResponse:
    """The service's answer: `body` is read lazily; `close` releases the connection. A 101 to
    an upgrade carries the connection in `upgraded` and has no body."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    close: Callable[[], None] = field(default=lambda: None)
    upgraded: Upgraded | None = None


class ServiceUnreachable(Exception):
    """The run has no service to reach now (not created, no ready pod, a port it lacks)."""


class ServiceForbidden(Exception):
    """The backend's access control refuses Axon's own account the request (a Kubernetes
    Role without `services/proxy`): a setting to fix, whatever the service's state."""
