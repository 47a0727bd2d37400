"""What a runner needs to forward one HTTP request to a run's service, and what comes back.

The core checks who may open the service and strips its own credentials; a runner only carries
the request to the service and its answer back, streamed both ways.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceRequest:
    """One request for a run's service. `path` is what the service receives (it starts with
    `/`), `query` the raw query string without `?`, `port` the service port (None: the first)."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: Iterable[bytes] | None = None
    port: int | None = None


@dataclass
class ServiceResponse:
    """The service's answer: `body` is read lazily; `close` releases the connection."""

    status: int
    headers: list[tuple[str, str]]
    body: Iterator[bytes]
    close: Callable[[], None] = field(default=lambda: None)


class ServiceUnreachable(Exception):
    """The run has no service to reach now (not created, no ready pod, a port it lacks)."""
