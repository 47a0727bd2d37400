"""An open-loop client: sends at a fixed rate by the clock, whatever the server's answers do.

A closed-loop generator such as wrk waits for an answer before sending again, so a server that
stalls is sent less and its stall is counted once (coordinated omission). Here request i is due
at start + i / rate; its latency runs from that due time, so a late send counts against the
server that made the client late.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    index: int
    due: float  # perf_counter() when the request was due
    sent_at: float  # time.time() just before the request was written
    answered: float  # perf_counter() once the whole answer was read
    lateness_ms: float  # how long after its due time the request went out
    status: int  # 0: no answer
    body: bytes
    error: str = ""

    @property
    def latency_ms(self) -> float:
        """From the due time to the whole answer: what an open-loop sender sees."""
        return (self.answered - self.due) * 1000

    @property
    def service_ms(self) -> float:
        """From the actual send to the whole answer."""
        return self.latency_ms - self.lateness_ms


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    body: bytes
    headers: Callable[[int], dict[str, str]]  # request index -> headers
    keep_alive: bool = True
    timeout: float = 10.0


def _exchange(conn: http.client.HTTPConnection, target: Target, index: int) -> tuple[int, bytes]:
    headers = target.headers(index)
    if not target.keep_alive:
        headers = {**headers, "Connection": "close"}
    conn.request("POST", target.path, target.body, headers)
    response = conn.getresponse()
    return response.status, response.read()


def _sender(
    target: Target,
    start: float,
    rate: float,
    count: int,
    tickets: Iterator[int],
    out: list[Sample],
) -> None:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=target.timeout)
    try:
        for index in tickets:
            if index >= count:
                return
            due = start + index / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent_at, sent = time.time(), time.perf_counter()
            status, body, error = 0, b"", ""
            try:
                status, body = _exchange(conn, target, index)
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            answered = time.perf_counter()
            if error or not target.keep_alive:
                conn.close()
            lateness = max(0.0, (sent - due) * 1000)
            out.append(Sample(index, due, sent_at, answered, lateness, status, body, error))
    finally:
        conn.close()


def send(target: Target, rate: float, count: int, threads: int = 32) -> list[Sample]:
    """Send `count` requests at `rate` per second; samples in index order.

    `threads` bounds the requests in flight: with latency L it must exceed rate * L, or sends
    fall behind their due times (still counted in latency_ms, shown in lateness_ms).
    """
    tickets = itertools.count()  # next() on it is atomic under the GIL
    results: list[Sample] = []
    start = time.perf_counter() + 0.05
    workers = [
        threading.Thread(
            target=_sender,
            args=(target, start, rate, count, tickets, results),
            name=f"paced-{n}",
            daemon=True,
        )
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    deadline = start + count / rate + target.timeout + 5
    for worker in workers:
        worker.join(max(0.0, deadline - time.perf_counter()))
    return sorted(results, key=lambda s: s.index)
