"""How many of the deliveries stored under load carried a NOTIFY for the outbox relay.

PostgreSQL serializes every commit that carries a NOTIFY, so under load the intake should send
none: an awake relay claims anyway (ci.agent.outbox). This starts Axon's gunicorn and `axon
agent` (no worker) on a fresh database, warms them up, then listens on the relay's channel
while `wrk -t2 -c32` sends signed pushes, waits until the relay has claimed every stored
delivery, and prints one JSON line: wrk's figures, the deliveries stored, the notifications
heard, and how many deliveries were left unclaimed (0, or one was lost).

    .venv/bin/python -m tests.benchmarks.notifies [seconds]     # about 1 minute
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Any

import psycopg2
from sqlalchemy import create_engine, text

from ci.agent import outbox
from tests.benchmarks.probes import libpq_url
from tests.benchmarks.stack import RABBITMQ, SECRET, Gunicorn, Queue, subscribe
from tests.benchmarks.wrk import Load
from tests.conftest import FIXTURES, drop_database, fresh_database, sign
from tests.e2e.harness import ROOT

FIXTURE = FIXTURES / "webhooks/github/push_branch_commits.json"


def measure(seconds: float) -> dict[str, Any]:
    with ExitStack() as stack:
        url = fresh_database("axon_notifies")
        stack.callback(drop_database, url)
        queue = Queue(f"axon-notifies-{uuid.uuid4().hex[:8]}")
        stack.callback(queue.delete)
        env = {
            "AXON_EMBEDDED": "false",
            "AXON_DATABASE_URL": url,
            "AXON_BROKER_URL": RABBITMQ,
            "AXON_QUEUE": queue.name,
            "AXON_GITHUB_API_URL": "http://127.0.0.1:9",
            "AXON_SLACK_WEBHOOK_URL": "",
        }
        axon = Gunicorn("wsgi:app", ROOT / "var" / "bench" / "notifies", env, relay=True)
        stack.callback(axon.stop)
        axon.start()
        _, source = subscribe(axon, SECRET)
        load = Load(FIXTURE, sign(SECRET, FIXTURE.read_bytes()), 2, 32)
        target = f"{axon.url}/webhooks/github/{source}"
        load.run(target, 2)  # warm-up: both workers' pools and the relay awake once
        engine = create_engine(url)
        stack.callback(engine.dispose)
        listener = psycopg2.connect(libpq_url(url))
        stack.callback(listener.close)
        listener.autocommit = True
        listener.cursor().execute(f"LISTEN {outbox.CHANNEL}")

        def count(table: str = "deliveries") -> int:
            with engine.connect() as conn:
                counted = conn.execute(text(f"SELECT count(*) FROM {table}"))
                return int(counted.scalar_one())

        before = count()
        listener.poll()
        listener.notifies.clear()
        result = load.run(target, seconds)
        deadline = time.monotonic() + 30
        while count("delivery_outbox") and time.monotonic() < deadline:
            time.sleep(0.1)
        listener.poll()
        stored = count() - before
        heard = len(listener.notifies)
        return {
            **result.as_dict(),
            "stored": stored,
            "notifies": heard,
            "notifies_per_1000_stored": round(1000 * heard / stored, 1) if stored else None,
            "left_unclaimed": count("delivery_outbox"),
        }


if __name__ == "__main__":
    print(json.dumps(measure(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0)))
