"""Machine readings printed beside the figures: how fast fsync and the CPU were this run."""

from __future__ import annotations

import os
import time

import psycopg2
from sqlalchemy.engine import make_url

PROBE_TABLE = "bench_fsync_probe"


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg2://...` as a URL psycopg2 itself accepts."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def fsync_rows_per_second(database_url: str, rows: int = 1000) -> float:
    """Single-row INSERT + COMMIT in a loop with psycopg2: each commit waits for a WAL flush."""
    conn = psycopg2.connect(libpq_url(database_url))
    try:
        with conn.cursor() as cur:
            # A logged table: a TEMP table's commits skip the WAL flush this probe is about.
            cur.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id bigserial, v text)")
            conn.commit()
            started = time.perf_counter()
            for n in range(rows):
                cur.execute(f"INSERT INTO {PROBE_TABLE} (v) VALUES (%s)", (str(n),))
                conn.commit()
            elapsed = time.perf_counter() - started
            cur.execute(f"TRUNCATE {PROBE_TABLE}")
            conn.commit()
    finally:
        conn.close()
    return rows / elapsed


def _cpu_work() -> int:
    # Fixed pure-Python work: integer arithmetic, a dict and string formatting.
    counts: dict[str, int] = {}
    total = 0
    for i in range(300_000):
        total = (total + i * i) % 1_000_003
        key = f"k{i % 97}"
        counts[key] = counts.get(key, 0) + 1
    return total + len(counts)


def cpu_ms(repeat: int = 3) -> float:
    """Best of `repeat` timings of the same fixed work, in milliseconds (lower is faster)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        _cpu_work()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def reading(database_url: str) -> dict[str, float]:
    return {
        "fsync_rows_per_s": round(fsync_rows_per_second(database_url), 1),
        "cpu_probe_ms": round(cpu_ms(), 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
