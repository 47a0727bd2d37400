"""WAL that PostgreSQL writes per delivery for intake's insert and for the relay's claim.

    .venv/bin/python -m tests.benchmarks.outbox_wal [deliveries]     # about 10 s

Each statement runs under EXPLAIN (ANALYZE, WAL), which counts that statement's own records
and bytes: unlike the server's WAL position, the figure does not move with what other clients
of the same server write, so it compares two versions of the code on a busy machine. Prints
one JSON document.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import psycopg2
from sqlalchemy.dialects import postgresql

from ci.agent import outbox
from ci.intake import receipt
from ci.store.db import Database, utcnow
from ci.store.models import Project, Source
from tests.benchmarks.probes import libpq_url
from tests.conftest import FIXTURES, drop_database, fresh_database

FIXTURE = "webhooks/github/push_branch_commits.json"
WAL = ("WAL Bytes", "WAL Records", "WAL FPI")
NAMES = ("wal_bytes", "wal_records", "full_page_images")


def _wal(cursor: Any, sql: str, params: dict[str, Any]) -> list[int]:
    cursor.execute("EXPLAIN (ANALYZE, WAL, FORMAT JSON) " + sql, params)
    plan = cursor.fetchone()[0][0]["Plan"]
    # A WITH's INSERT that the query does not read (the outbox row) is a node of its own,
    # not counted in the top node's totals.
    nodes = [plan, *(n for n in plan.get("Plans", []) if n.get("Subplan Name") == "CTE queued")]
    return [sum(node.get(key, 0) for node in nodes) for key in WAL]


def _sql(statement: Any) -> str:
    return str(statement.compile(dialect=postgresql.dialect()))


def measure(deliveries: int) -> dict[str, Any]:
    url = fresh_database("axon_outbox_wal")
    db = Database(url)
    try:
        with db.session() as session:
            source = Source(project=Project(name="wal"), provider="github", name="gh", secret="s")
            session.add(source)
            session.flush()
            source_id = source.id
        body = (FIXTURES / FIXTURE).read_bytes()
        headers = json.dumps({"content-type": "application/json", "x-github-event": "push"})
        store, claim = _sql(receipt._STORE_AND_QUEUE), _sql(outbox._CLAIM)
        connection = psycopg2.connect(libpq_url(url))
        connection.autocommit = True
        try:
            cursor = connection.cursor()
            stored = [0, 0, 0]
            for _ in range(deliveries):
                row = {
                    "source_id": source_id,
                    "provider": "github",
                    "dedupe_key": uuid.uuid4().hex,
                    "event_name": "push",
                    "status": "received",
                    "reason": "",
                    "headers": headers,
                    "body": body,
                    "body_size": len(body),
                    "received_at": utcnow(),
                    "enqueued_at": None,
                    "processed_at": None,
                }
                stored = [a + b for a, b in zip(stored, _wal(cursor, store, row), strict=True)]
            claimed = [0, 0, 0]
            while True:
                cursor.execute("BEGIN")
                batch = _wal(cursor, claim, {"limit": outbox.BATCH})
                cursor.execute("COMMIT")
                if not batch[1]:
                    break
                claimed = [a + b for a, b in zip(claimed, batch, strict=True)]
        finally:
            connection.close()
    finally:
        db.dispose()
        drop_database(url)
    per = {
        f"{part}_{name}": round(total / deliveries, 2)
        for part, totals in (("insert", stored), ("claim", claimed))
        for name, total in zip(NAMES, totals, strict=True)
    }
    return {"deliveries": deliveries, "body_bytes": len(body), "per_delivery": per}


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))
