"""One scheduler tick with 100,000 schedules, few due, against evaluating every cron each tick.

    .venv/bin/python -m tests.benchmarks.scheduler_tick [--schedules 100000] [--due 10]
        [--ticks 21]

Builds a fresh PostgreSQL database with subscriptions of 10 cron schedules each (10,000 of them
by default), spread so that each minute holds `--due` schedules: a schedule is a yearly cron at
one of `schedules / due` consecutive minutes (weekly crons would put a hundred in each minute at
a million schedules). Then measures, interleaved in three reps: `firing.tick` with simulated
time moving a minute per tick (`--due` slots due, each written as a fire and a delivery), a
tick with nothing due, and the naive tick: read every schedule and ask croniter whether it is
due (measured on a sample, scaled to all of them). Enqueueing the deliveries is left out (no
broker). Prints one JSON document; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from ci import runtime
from ci.config import Settings
from ci.runtime import Runtime
from ci.schedules import firing
from ci.store.db import Database
from ci.store.models import Project, Subscription
from ci.store.models import Schedule as ScheduleRow
from tests.conftest import drop_database, fresh_database
from triggers.schedules import Schedule

PER_SUBSCRIPTION = 10
START = datetime(2026, 3, 2, 0, 0, 30, tzinfo=UTC)  # a Monday, half a minute past midnight
NAIVE_SAMPLE = 2_000
CHUNK = 50_000  # schedule rows per insert
_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def yearly(n: int, slots: int) -> tuple[dict[str, Any], datetime]:
    """The n-th schedule: a yearly cron at the (n % slots)-th minute after START, and that slot
    (its first after START)."""
    slot = START.replace(second=0) + timedelta(minutes=n % slots + 1)
    return {"cron": f"{slot.minute} {slot.hour} {slot.day} {slot.month} *"}, slot


def populate(db: Database, count: int, slots: int) -> None:
    """`count` schedules, written with Core bulk inserts, as sync_subscription would leave them."""
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        project = conn.execute(
            insert(Project).values(name="bench", description="", created_at=now)
        ).inserted_primary_key[0]
        subs = count // PER_SUBSCRIPTION
        conn.execute(
            insert(Subscription),
            [
                {
                    "project_id": project,
                    "name": f"s{i}",
                    "spec": {
                        "on": {
                            "schedule": [
                                yearly(i * PER_SUBSCRIPTION + e, slots)[0]
                                for e in range(PER_SUBSCRIPTION)
                            ]
                        }
                    },
                    "paused": False,
                    "created_at": now,
                }
                for i in range(subs)
            ],
        )
        first = conn.scalar(select(func.min(Subscription.id)))
        total = subs * PER_SUBSCRIPTION
        for start in range(0, total, CHUNK):  # a million rows at once would take gigabytes
            rows = []
            for n in range(start, min(start + CHUNK, total)):
                spec, slot = yearly(n, slots)
                rows.append(
                    {
                        "subscription_id": first + n // PER_SUBSCRIPTION,
                        "entry": n % PER_SUBSCRIPTION,
                        "spec": spec,
                        "state": "active",
                        "reason": "",
                        "next_slot_at": slot,
                        "next_fire_at": slot,
                        "fired_count": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            conn.execute(insert(ScheduleRow), rows)
        conn.execute(text("ANALYZE"))


def check_slots(slots: int, sample: int = 200) -> None:
    """The slots written by `yearly` are the ones the schedule itself computes."""
    for n in random.Random(1).sample(range(slots * 2), min(sample, slots * 2)):
        spec, slot = yearly(n, slots)
        assert Schedule.from_spec(spec, "").next_after(START) == slot, (n, spec, slot)


def indexed_ticks(rt: Runtime, first: int, count: int) -> tuple[list[float], list[int]]:
    """`count` ticks, simulated time one minute apart: (milliseconds each, slots fired each)."""
    times, fired = [], []
    for i in range(first, first + count):
        started = time.perf_counter()
        counts = firing.tick(rt, now=START + timedelta(minutes=i))
        times.append((time.perf_counter() - started) * 1000)
        fired.append(counts["fired"])
    return times, fired


def idle_ticks(rt: Runtime, minute: int, count: int) -> list[float]:
    """Ticks ten seconds after the last one: every due schedule was already decided."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert firing.tick(rt, now=START + timedelta(minutes=minute, seconds=10))["due"] == 0
        times.append((time.perf_counter() - started) * 1000)
    return times


def naive_tick(db: Database, now: datetime, total: int) -> dict[str, float]:
    """Read every schedule, then evaluate a sample's cron as a tick would; scaled to `total`."""
    started = time.perf_counter()
    with db.engine.connect() as conn:
        specs = [spec for (spec,) in conn.execute(select(ScheduleRow.spec))]
    read_ms = (time.perf_counter() - started) * 1000
    sample = random.Random(len(specs)).sample(specs, min(NAIVE_SAMPLE, len(specs)))
    started = time.perf_counter()
    due = 0
    for spec in sample:
        slot = Schedule.from_spec(spec, "").next_after(now - timedelta(minutes=1))
        due += slot is not None and slot <= now
    eval_ms = (time.perf_counter() - started) * 1000 * total / len(sample)
    return {"read_ms": read_ms, "evaluate_ms": eval_ms, "tick_ms": read_ms + eval_ms}


def machine(url: str) -> dict[str, float]:
    """Beside the figures: how fast this box committed and computed during this run."""
    db = Database(url)
    with db.engine.connect() as conn:
        conn.execute(text("CREATE TABLE bench_probe (id serial, v int)"))
        conn.commit()
        started = time.perf_counter()
        for n in range(300):
            conn.execute(text("INSERT INTO bench_probe (v) VALUES (:v)"), {"v": n})
            conn.commit()
        commits = 300 / (time.perf_counter() - started)
    db.dispose()
    started = time.perf_counter()
    sum(i * i % 7 for i in range(1_000_000))
    cpu_ms = (time.perf_counter() - started) * 1000
    return {
        "commits_per_s": round(commits),
        "cpu_probe_ms": round(cpu_ms, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[max(0, -(-99 * len(ordered) // 100) - 1)]
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(values), 2),
    }


def measure(rt: Runtime, url: str, total: int, ticks: int) -> dict[str, Any]:
    indexed_ticks(rt, 1, 3)  # warm-up: connections, caches, the first plans
    per_rep, minute = max(1, ticks // 3), 4
    tick_ms: list[float] = []
    fired: list[int] = []
    idle_ms: list[float] = []
    naive: list[dict[str, float]] = []
    for rep in range(3):
        times, counts = indexed_ticks(rt, minute, per_rep)
        tick_ms += times
        fired += counts
        minute += per_rep
        idle_ms += idle_ticks(rt, minute - 1, per_rep)
        naive.append(naive_tick(rt.db, START + timedelta(minutes=minute), total))
        log(
            f"rep {rep + 1}: tick median {statistics.median(times):.1f} ms, "
            f"naive {naive[-1]['tick_ms']:.0f} ms"
        )
    naive_ms = statistics.median(n["tick_ms"] for n in naive)
    return {
        "schedules": total,
        "tick_few_due": {**summary(tick_ms), "fired_per_tick": statistics.median(fired)},
        "tick_none_due": summary(idle_ms),
        "naive_tick": {
            "median_ms": round(naive_ms),
            "read_all_ms": round(statistics.median(n["read_ms"] for n in naive)),
            "evaluate_all_ms": round(statistics.median(n["evaluate_ms"] for n in naive)),
            "evaluated_sample": NAIVE_SAMPLE,
            "reps_ms": [round(n["tick_ms"]) for n in naive],
        },
        "ratio_naive_over_tick": round(naive_ms / statistics.median(tick_ms), 1),
        "machine": machine(url),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10, help="schedules due each minute")
    parser.add_argument("--ticks", type=int, default=21)
    args = parser.parse_args(argv)
    slots = max(1, args.schedules // args.due)
    check_slots(slots)
    runtime.enqueue = lambda *_, **__: None  # no broker: publishing is not measured
    url = fresh_database("axon_bench_scheduler")
    try:
        rt = Runtime(Settings(database_url=url), Database(url), b"bench")
        log(f"inserting {args.schedules:,} schedules")
        populate(rt.db, args.schedules, slots)
        log("measuring")
        result = measure(rt, url, args.schedules, args.ticks)
        rt.db.dispose()
    finally:
        drop_database(url)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
