"""A first delivery after a quiet spell: from its send to its task on the queue.

The API stores a delivery and answers; Axon's outbox relay (`axon agent`) publishes its task.
Under load the relay is awake and claims in batches; after a quiet spell it sleeps until a
NOTIFY wakes it. This measures that wake-up: one signed push at a time, each after `quiet_s`
without any, on a new connection as GitHub sends them, while a consumer on Axon's queue (no
worker runs) notes when the `axon.process_deliveries` message naming the push arrives. Both
times are read from this process's perf_counter.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer
from kombu import Queue as KombuQueue
from kombu.message import Message

from tests.benchmarks import figures
from tests.benchmarks.stack import RABBITMQ, push_headers

TASK = "axon.process_deliveries"


@dataclass(frozen=True)
class Push:
    delivery: int
    sent: float  # perf_counter() just before the request was written
    answered: float  # perf_counter() once the answer was read


class Arrivals:
    """Delivery id -> perf_counter() when its task's message reached this consumer."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    def __call__(self, body: Any, message: Message) -> None:
        arrived = time.perf_counter()
        if message.headers.get("task") == TASK:
            args = body[0] if isinstance(body, list) else body.get("args", [])
            for delivery in args[0]:
                self.at.setdefault(int(delivery), arrived)
        message.ack()


def _send(port: int, path: str, body: bytes, headers: dict[str, str]) -> Push:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        sent = time.perf_counter()
        conn.request("POST", path, body, {**headers, "Connection": "close"})
        response = conn.getresponse()
        answer = response.read()
        answered = time.perf_counter()
    finally:
        conn.close()
    if response.status != 202:
        raise RuntimeError(f"first_enqueue: a push answered {response.status}: {answer[:200]!r}")
    return Push(int(json.loads(answer)["delivery"]), sent, answered)


def measure(
    port: int, path: str, body: bytes, queue: str, pushes: int = 20, quiet_s: float = 1.5
) -> dict[str, Any]:
    """Send `pushes` pushes, each after `quiet_s` of quiet; how soon each task was queued."""
    headers = push_headers(body, "quiet")
    arrivals = Arrivals()
    sent: list[Push] = []
    with Connection(RABBITMQ, connect_timeout=5) as conn:
        consumer = Consumer(
            conn.channel(),
            [KombuQueue(queue, no_declare=True)],
            callbacks=[arrivals],
            accept=["json"],
        )
        with consumer:
            for index in range(pushes):
                time.sleep(quiet_s)  # the quiet spell itself: the relay is back asleep
                push = _send(port, path, body, headers(index))
                sent.append(push)
                deadline = time.monotonic() + 5
                while push.delivery not in arrivals.at and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        continue
    queued = [p for p in sent if p.delivery in arrivals.at]
    return {
        "pushes": pushes,
        "quiet_s": quiet_s,
        "queued": len(queued),
        "sent_to_queued": figures.latency(
            [(arrivals.at[p.delivery] - p.sent) * 1000 for p in queued]
        ),
        "answered_to_queued": figures.latency(
            [(arrivals.at[p.delivery] - p.answered) * 1000 for p in queued]
        ),
        "webhook_answered": figures.latency([(p.answered - p.sent) * 1000 for p in sent]),
    }
