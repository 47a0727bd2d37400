"""Baselines for the ingest benchmark: stock parts and no Axon code, served by gunicorn.

`bare`: read the body, parse the JSON, check X-Hub-Signature-256, answer 202: the floor of
any Flask webhook endpoint. `insert`: the same plus one INSERT of the body and a COMMIT per
request with SQLAlchemy Core: the floor of persisting a delivery before acknowledging it.
`insert_publish`: `insert` plus, after the COMMIT, one Celery `send_task` to RabbitMQ: the
floor of what Axon does, persist the delivery and enqueue its work.

    gunicorn tests.benchmarks.baselines:bare
    gunicorn tests.benchmarks.baselines:insert
    gunicorn tests.benchmarks.baselines:insert_publish

Environment: BENCH_SECRET (the webhook secret), BENCH_DATABASE_URL (for `insert` and
`insert_publish`), BENCH_BROKER_URL and BENCH_PUBLISH_QUEUE (for `insert_publish`: a queue of
its own, which nothing consumes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from typing import Any

from celery import Celery
from flask import Flask, jsonify, request
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    text,
)

TABLE = Table(
    "bench_baseline_deliveries",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("delivery", String(128)),
    Column("body", LargeBinary),
)
_engine: Engine | None = None
_engine_lock = threading.Lock()
# Publishes as Axon's Celery app does (ci.runtime.configure_celery), on the benchmark's broker.
celery = Celery("bench")
celery.conf.update(
    broker_url=os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    task_default_queue=os.environ.get("BENCH_PUBLISH_QUEUE", "axon-bench-baseline"),
    task_ignore_result=True,
    task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5},
    broker_transport_options={"confirm_publish": False},
)


def _secret() -> bytes:
    return os.environ["BENCH_SECRET"].encode()


def _checked_body() -> tuple[bytes, Any] | tuple[None, Any]:
    """The body once parsed and verified, or (None, an error answer)."""
    body = request.get_data(cache=False)
    try:
        json.loads(body)
    except ValueError as exc:
        return None, (jsonify({"status": "malformed", "message": str(exc)}), 400)
    expected = "sha256=" + hmac.new(_secret(), body, hashlib.sha256).hexdigest()
    given = request.headers.get("X-Hub-Signature-256", "")
    if not hmac.compare_digest(expected, given):
        return None, (jsonify({"status": "rejected", "message": "bad signature"}), 401)
    return body, None


def engine() -> Engine:
    """This process's engine; the first call creates the table if it is missing."""
    global _engine
    with _engine_lock:
        if _engine is None:
            made = create_engine(os.environ["BENCH_DATABASE_URL"])
            with made.begin() as conn:
                # Two gunicorn workers start at once; the lock keeps their DDL apart.
                conn.execute(text("SELECT pg_advisory_xact_lock(4242)"))
                TABLE.create(conn, checkfirst=True)
            _engine = made
        return _engine


def _health() -> Any:
    return jsonify({"status": "ok"})


bare = Flask("bare")
bare.add_url_rule("/healthz", "health", _health)


@bare.post("/webhooks/github/<source>")
def bare_receive(source: str) -> Any:
    body, refusal = _checked_body()
    if body is None:
        return refusal
    return jsonify({"status": "received", "message": "accepted"}), 202


insert = Flask("insert")


@insert.get("/healthz")
def insert_health() -> Any:
    engine()  # the table exists before the server counts as up
    return _health()


@insert.post("/webhooks/github/<source>")
def insert_receive(source: str) -> Any:
    body, refusal = _checked_body()
    if body is None:
        return refusal
    _store(body)
    return jsonify({"status": "received", "message": "accepted"}), 202


def _store(body: bytes) -> str:
    delivery = request.headers.get("X-GitHub-Delivery", "")
    with engine().begin() as conn:
        conn.execute(TABLE.insert(), {"delivery": delivery, "body": body})
    return delivery


insert_publish = Flask("insert_publish")
insert_publish.add_url_rule("/healthz", "health", insert_health)


@insert_publish.post("/webhooks/github/<source>")
def insert_publish_receive(source: str) -> Any:
    body, refusal = _checked_body()
    if body is None:
        return refusal
    delivery = _store(body)
    celery.send_task("bench.process_delivery", args=(delivery,))
    return jsonify({"status": "received", "message": "accepted"}), 202
