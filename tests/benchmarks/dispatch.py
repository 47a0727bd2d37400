"""One delivery against 10,000 subscriptions of one project, on the path production takes.

    .venv/bin/python -m tests.benchmarks.dispatch [--subscriptions 10000] [--deliveries 100]

Makes a fresh PostgreSQL database with one project, one GitHub source and 10,000 subscriptions
(the filters of tests/benchmarks/matching.py, each naming one of its 2,000 repositories, each
with a Polyaxon operation), stores seeded pushes as received deliveries, and times the worker's
task `axon.process_delivery` (ci.tasks) called in this process, from the task's start to its
transaction committed: the push parsed, its candidates decided, its runs and decisions written.
What the task does after its commit, starting the runs, is left out here: nothing is started.
Interleaved, three reps of:

- `axon`: the task, with the project's subscriptions compiled once per process
  (ci.runs.indexes);
- `floor`: the least a dispatcher that keeps a decision log does per delivery, in plain
  psycopg2: lock the delivery's row, parse its body, insert one decision, mark it processed,
  commit;
- `uncached`: the task with this process's copy dropped before each delivery, as every
  delivery paid before the copy was kept (compile every subscription, build the index); on a
  few deliveries only.

Then a change to one subscription, written through another Database object as another process
would write it, and the next delivery to its repository: its decision must follow the change
(else exit status 1); that delivery is timed too. Prints one JSON document; progress on stderr.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from random import Random
from typing import Any

import psycopg2
from sqlalchemy import func, insert, select

from ci import runtime, tasks, wiring
from ci.config import Settings
from ci.intake import delivery_state
from ci.runs import indexes
from ci.store.db import Database
from ci.store.models import Decision, Delivery, Project, Run, Source, Subscription
from schemas.event import Event
from schemas.status import DeliveryStatus
from tests.benchmarks import matching
from tests.benchmarks.figures import percentile
from tests.benchmarks.probes import cpu_ms, fsync_rows_per_second, libpq_url
from tests.ci.factories import OPERATION
from tests.conftest import drop_database, fixture_bytes, fresh_database

REPS = 3
UNCACHED_PER_REP = 2
CHANGES = 4
# The subscription the change phase rewrites, on a repository of its own.
PROBE_REPO = "probe/repo"
_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def specs(count: int, rng: Random) -> list[dict[str, Any]]:
    """`count` subscription documents: the matching benchmark's filters, one repository each."""
    found = []
    for n, spec in enumerate(matching.subscription_specs(count - 1, rng)):
        spec = {**spec, "repo": matching.repo_name(rng)}
        spec.pop("provider", None)
        found.append({"name": f"s{n}", **spec, "operation": OPERATION})
    probe = {"repo": PROBE_REPO, "on": {"push": {"branches": ["main"]}}}
    return [*found, {"name": "probe", **probe, "operation": OPERATION}]


def populate(db: Database, documents: list[dict[str, Any]]) -> tuple[int, int]:
    """The project, its GitHub source and its subscriptions; (project id, source id)."""
    with db.engine.begin() as conn:
        project = conn.execute(insert(Project).values(name="bench")).inserted_primary_key[0]
        source = conn.execute(
            insert(Source).values(project_id=project, name="gh", provider="github", secret="s")
        ).inserted_primary_key[0]
        conn.execute(
            insert(Subscription),
            [{"project_id": project, "name": d["name"], "spec": d} for d in documents],
        )
    return project, source


def push_body(base: dict[str, Any], event: Event) -> bytes:
    """The recorded GitHub push, rewritten to push `event`'s branch of its repository."""
    body = copy.deepcopy(base)
    body.update(ref=event.ref, after=event.sha, before="0" * 40)
    body["repository"]["full_name"] = event.repo
    body["commits"][0]["modified"] = list(event.changed_paths or ())
    body["head_commit"] = body["commits"][0]
    return json.dumps(body).encode()


def store(db: Database, source: int, events: list[Event], tag: str) -> list[int]:
    """Each event as a received GitHub push delivery; their ids."""
    base = json.loads(fixture_bytes("webhooks/github/push_branch_commits.json"))
    rows = [
        delivery_state.new(
            DeliveryStatus.RECEIVED,
            provider="github",
            source_id=source,
            dedupe_key=f"{tag}-{n}",
            event_name="push",
            headers={"X-GitHub-Event": "push", "Content-Type": "application/json"},
            body=push_body(base, event),
        )
        for n, event in enumerate(events)
    ]
    with db.engine.begin() as conn:
        return list(conn.scalars(insert(Delivery).returning(Delivery.id), rows))


# This process's CPU time per delivery, beside the wall time: on a busy machine the wall time
# is mostly waiting for a core, this process's or the database server's.
CPU_MS: dict[str, list[float]] = {}


def timed(deliveries: list[int], act: Callable[[int], object], name: str = "") -> list[float]:
    """Wall milliseconds of `act` on each delivery; its CPU milliseconds go to CPU_MS[name]."""
    times = []
    for delivery_id in deliveries:
        started, cpu = time.perf_counter(), time.process_time()
        act(delivery_id)
        times.append((time.perf_counter() - started) * 1000)
        CPU_MS.setdefault(name, []).append((time.process_time() - cpu) * 1000)
    return times


def uncached(delivery_id: int) -> None:
    indexes.forget()  # as if no delivery of this project had been processed here
    tasks.process_delivery(delivery_id)


def floor(conn: Any) -> Callable[[int], None]:
    """One delivery processed with plain psycopg2 and no matching: the floor."""

    def process(delivery_id: int) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT body FROM deliveries WHERE id = %s FOR UPDATE", (delivery_id,))
            event = json.loads(bytes(cur.fetchone()[0]))
            cur.execute(
                "INSERT INTO decisions (delivery_id, event_index, event, subscription_name,"
                " matched, checks, created_at) VALUES (%s, 0, %s, 'floor', false, '[]', now())",
                (delivery_id, json.dumps({"repo": event["repository"]["full_name"]})),
            )
            cur.execute(
                "UPDATE deliveries SET status = 'processed', reason = 'floor',"
                " processed_at = now() WHERE id = %s",
                (delivery_id,),
            )
        conn.commit()

    return process


def change_probe(other: Database, branch: str) -> None:
    """The probe subscription now listens to pushes to `branch`, written by another engine."""
    with other.session() as session:
        row = session.scalar(select(Subscription).where(Subscription.name == "probe"))
        row.spec = {**row.spec, "on": {"push": {"branches": [branch]}}}


def probe_matched(db: Database, delivery_id: int) -> bool:
    with db.engine.connect() as conn:
        return bool(
            conn.scalar(
                select(func.count())
                .select_from(Decision)
                .where(Decision.delivery_id == delivery_id, Decision.subscription_name == "probe")
                .where(Decision.matched.is_(True))
            )
        )


def changes(db: Database, url: str, source: int) -> dict[str, Any]:
    """Change the probe subscription back and forth; the next push to main follows each time."""
    other, times, followed = Database(url), [], []
    main = Event(kind="push", provider="github", repo=PROBE_REPO, ref="refs/heads/main")
    for n in range(CHANGES):
        branch = "dev" if n % 2 == 0 else "main"
        change_probe(other, branch)
        [delivery_id] = store(db, source, [main], f"change-{n}")
        times += timed([delivery_id], tasks.process_delivery)
        followed.append(probe_matched(db, delivery_id) == (branch == "main"))
    other.dispose()
    return {"next_delivery_ms": [round(t, 1) for t in times], "decisions_followed": followed}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
    }


def by_runs(db: Database, times: dict[int, float]) -> dict[str, Any]:
    """The deliveries' times grouped by how many runs each created."""
    with db.engine.connect() as conn:
        made = dict(
            conn.execute(
                select(Run.delivery_id, func.count())
                .where(Run.delivery_id.in_(list(times)))
                .group_by(Run.delivery_id)
            ).all()
        )
        decided = dict(
            conn.execute(
                select(Decision.delivery_id, func.count())
                .where(Decision.delivery_id.in_(list(times)))
                .group_by(Decision.delivery_id)
            ).all()
        )
    groups: dict[str, list[float]] = {}
    for delivery_id, ms in times.items():
        runs = made.get(delivery_id, 0)
        groups.setdefault(str(runs) if runs < 3 else "3+", []).append(ms)
    return {
        "by_runs_created": {k: summary(v) for k, v in sorted(groups.items())},
        "runs_created": dict(sorted(Counter(made.get(d, 0) for d in times).items())),
        "decisions_per_delivery_mean": round(statistics.mean(decided.get(d, 0) for d in times), 2),
    }


def measure(db: Database, url: str, source: int, count: int, rng: Random) -> dict[str, Any]:
    per_rep = max(1, count // REPS)
    pushes = matching.pushes(per_rep * REPS + UNCACHED_PER_REP * REPS + per_rep * REPS, rng)
    axon_ids = store(db, source, pushes[: per_rep * REPS], "axon")
    rest = pushes[per_rep * REPS :]
    uncached_ids = store(db, source, rest[: UNCACHED_PER_REP * REPS], "uncached")
    floor_ids = store(db, source, rest[UNCACHED_PER_REP * REPS :], "floor")
    [cold_id, *warm_up] = store(db, source, pushes[:5], "warm-up")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [cold_ms] = timed([cold_id], tasks.process_delivery)
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    log(f"first delivery (compiles every subscription): {cold_ms:.0f} ms")
    timed(warm_up, tasks.process_delivery)
    conn = psycopg2.connect(libpq_url(url))
    axon: dict[int, float] = {}
    reps, floors, slow = [], [], []
    for rep in range(REPS):
        ids = axon_ids[rep * per_rep : (rep + 1) * per_rep]
        axon.update(zip(ids, timed(ids, tasks.process_delivery, "axon"), strict=True))
        floor_ms = timed(floor_ids[rep * per_rep : (rep + 1) * per_rep], floor(conn), "floor")
        few = UNCACHED_PER_REP
        uncached_ms = timed(uncached_ids[rep * few : (rep + 1) * few], uncached)
        # The next rep's first delivery must not pay for the copy the last one dropped.
        tasks.process_delivery(store(db, source, pushes[:1], f"rewarm-{rep}")[0])
        floors += floor_ms
        slow += uncached_ms
        reps.append(
            {
                "axon_median_ms": round(statistics.median([axon[i] for i in ids]), 2),
                "floor_median_ms": round(statistics.median(floor_ms), 2),
                "uncached_median_ms": round(statistics.median(uncached_ms)),
            }
        )
        log(f"rep {rep + 1}: {reps[-1]}")
    conn.close()
    times = list(axon.values())
    return {
        "axon": {**summary(times), **by_runs(db, axon), "cpu": summary(CPU_MS["axon"])},
        "floor": {**summary(floors), "cpu": summary(CPU_MS["floor"])},
        "uncached": summary(slow),
        "ratio_axon_over_floor_median": round(
            statistics.median(times) / statistics.median(floors), 2
        ),
        "ratio_uncached_over_axon_median": round(
            statistics.median(slow) / statistics.median(times)
        ),
        "first_delivery": {"ms": round(cold_ms), "max_rss_growth_mb": round(rss_mb)},
        "reps": reps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=150, help="timed, over all reps")
    args = parser.parse_args(argv)
    rng = Random(20261205)
    url = fresh_database("axon_bench_dispatch")
    try:
        settings = Settings(database_url=url, broker_url="memory://", log_level="WARNING")
        rt = wiring.wire(runtime.init(settings))
        rt.publish = lambda *_, **__: True  # publishing after the commit is not measured
        tasks._start_here = lambda *_: None  # nor the start the task makes after its commit
        machine_start = {"cpu_probe_ms": round(cpu_ms(), 1), "loadavg_1m": os.getloadavg()[0]}
        log(f"storing {args.subscriptions:,} subscriptions")
        _, source = populate(rt.db, specs(args.subscriptions, rng))
        result: dict[str, Any] = {
            "subscriptions": args.subscriptions,
            "repositories": matching.ORGS * matching.REPOS_PER_ORG,
            **measure(rt.db, url, source, args.deliveries, rng),
            "change": changes(rt.db, url, source),
        }
        result["goal_median_under_5_ms"] = result["axon"]["median_ms"] < 5
        result["machine"] = {
            "start": machine_start,
            "end": {
                "cpu_probe_ms": round(cpu_ms(), 1),
                "loadavg_1m": os.getloadavg()[0],
                "commits_per_s": round(fsync_rows_per_second(url, 300)),
            },
        }
        rt.db.dispose()
    finally:
        drop_database(url)
    print(json.dumps(result, indent=2))
    return 0 if all(result["change"]["decisions_followed"]) else 1


if __name__ == "__main__":
    sys.exit(main())
