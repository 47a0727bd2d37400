"""Match one push event against 10,000 subscriptions: the index against the plain scan.

    .venv/bin/python -m tests.benchmarks.matching [--subscriptions 10000] [--events 2000]

Builds 10,000 subscriptions with the variety of a large installation (2,000 repositories in 100
organizations; literal repositories, organization globs and a few subscriptions without one;
branch lists, branch globs, branches-ignore, tag filters, path filters; pull request, release,
registry, comment and schedule subscriptions beside the push ones), compiles them, builds a
SubscriptionIndex, then times, interleaved over three reps on the same seeded pushes: the index
(`index.evaluate(event)`: look up the candidates and decide them), the lookup alone, and the
plain scan (`evaluate(event, subscriptions)`) on a sample of the pushes. Every sampled push must
match the same subscriptions both ways. Also times replacing one subscription in the index
(`index.replaced`, what a change to one costs a process that keeps the index) against building
it again. Prints one JSON document; progress on stderr; about 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from schemas.event import Event
from tests.benchmarks.figures import percentile
from tests.benchmarks.probes import cpu_ms
from triggers.index import SubscriptionIndex
from triggers.subscription import Subscription, compile_subscription, evaluate

ORGS, REPOS_PER_ORG = 100, 20
REPS = 3
_STARTED = time.monotonic()
# Branches pushed to, with how often: most pushes go to main or a feature branch.
PUSHED = [("main", 45), ("feature/{n}", 30), ("release/1.{n}", 10), ("dev", 10), ("docs/{n}", 5)]
BRANCH_FILTERS: list[tuple[dict[str, Any], int]] = [
    ({"branches": ["main"]}, 30),
    ({"branches": ["main", "release/**"]}, 20),
    ({"branches": ["feature/*"]}, 10),
    ({"branches": ["release/1.[0-9]+"]}, 5),
    ({"branches-ignore": ["docs/**"]}, 10),
    ({"tags": ["v*"]}, 10),
    ({"branches": ["main"], "tags": ["v[0-9]*"]}, 5),
    ({}, 10),
]
PATH_FILTERS: list[tuple[dict[str, Any], int]] = [
    ({}, 70),
    ({"paths": ["src/**", "models/**"]}, 20),
    ({"paths-ignore": ["**.md", "docs/**"]}, 10),
]
CHANGED = ["src/train.py", "src/data/load.py", "models/resnet.yaml", "README.md", "docs/a.md"]


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def repo_name(rng: random.Random) -> str:
    return f"org{rng.randrange(ORGS)}/repo{rng.randrange(REPOS_PER_ORG)}"


def repo_filter(rng: random.Random) -> dict[str, Any]:
    org = rng.randrange(ORGS)
    return pick(
        rng,
        [
            ({"repo": repo_name(rng)}, 85),
            ({"repo": f"org{org}/*"}, 6),
            ({"repo": [repo_name(rng), repo_name(rng)]}, 4),
            ({"repo": [f"org{org}/*", f"!org{org}/repo0"]}, 2),
            ({"repo": f"org{org}/repo1*"}, 2),
            ({}, 1),
        ],
    )


def on_section(rng: random.Random) -> dict[str, Any]:
    push = {**pick(rng, BRANCH_FILTERS), **pick(rng, PATH_FILTERS)}
    return pick(
        rng,
        [
            ({"push": push}, 70),
            ({"pull_request": {"branches": ["main"]}}, 12),
            ({"push": push, "pull_request": None}, 8),
            ({"release": {"types": ["published"]}}, 3),
            ({"registry": {"images": ["ghcr.io/octo/*"], "tags": ["v*"]}}, 3),
            ({"comment": {"commands": ["run", "rerun"]}}, 2),
            ({"schedule": [{"cron": "0 3 * * *"}]}, 2),
        ],
    )


def subscription_specs(count: int, rng: random.Random) -> list[dict[str, Any]]:
    specs = []
    for _ in range(count):
        spec = {**repo_filter(rng), "on": on_section(rng)}
        if rng.random() < 0.05:
            spec["provider"] = rng.choice(["github", "gitlab"])
        specs.append(spec)
    return specs


def pushes(count: int, rng: random.Random) -> list[Event]:
    events = []
    for n in range(count):
        branch = pick(rng, PUSHED).format(n=rng.randrange(50))
        events.append(
            Event(
                kind="push",
                provider="github",
                repo=repo_name(rng),
                ref=f"refs/heads/{branch}",
                branch=branch,
                sha=f"{n:040x}",
                message="train with the new loader",
                changed_paths=tuple(rng.sample(CHANGED, rng.randint(1, 3))),
            )
        )
    return events


def per_event(events: list[Event], act: Callable[[Event], object]) -> list[float]:
    times = []
    for event in events:
        started = time.perf_counter()
        act(event)
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(values: list[float], digits: int = 4) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), digits),
        "p99_ms": round(percentile(values, 99), digits),
        "max_ms": round(max(values), digits),
    }


def same_matches(
    index: SubscriptionIndex, subscriptions: list[Subscription], events: list[Event]
) -> bool:
    for event in events:
        plain = {d.subscription_id for d in evaluate(event, subscriptions) if d.matched}
        if plain != {d.subscription_id for d in index.evaluate(event) if d.matched}:
            return False
    return True


def measure(
    index: SubscriptionIndex,
    subscriptions: list[Subscription],
    events: list[Event],
    sample: list[Event],
) -> dict[str, Any]:
    per_index, per_lookup, per_scan, reps = [], [], [], []
    per_event(events[:200], index.evaluate)  # warm-up: caches, the first allocations
    for rep in range(REPS):
        indexed = per_event(events, index.evaluate)
        looked = per_event(events, index.lookup)
        scanned = per_event(sample, lambda e: evaluate(e, subscriptions))
        per_index += indexed
        per_lookup += looked
        per_scan += scanned
        reps.append(
            {
                "index_median_ms": round(statistics.median(indexed), 4),
                "scan_median_ms": round(statistics.median(scanned), 2),
            }
        )
        log(
            f"rep {rep + 1}: index {reps[-1]['index_median_ms']} ms, "
            f"scan {reps[-1]['scan_median_ms']} ms (medians)"
        )
    lookups = [index.lookup(e) for e in events]
    candidates = [len(found.candidates) for found in lookups]
    matched = [sum(d.matched for d in index.evaluate(e)) for e in events]
    return {
        "index_per_event": summary(per_index),
        "lookup_only_per_event": summary(per_lookup),
        "scan_per_event": summary(per_scan, 2),
        "ratio_scan_over_index_median": round(
            statistics.median(per_scan) / statistics.median(per_index)
        ),
        "candidates_per_event": {
            "mean": round(statistics.mean(candidates), 1),
            "median": statistics.median(candidates),
            "p99": percentile(candidates, 99),
            "max": max(candidates),
        },
        "matched_per_event": {
            "mean": round(statistics.mean(matched), 1),
            "median": statistics.median(matched),
            "max": max(matched),
        },
        "reps": reps,
    }


def replacing(
    index: SubscriptionIndex, specs: list[dict[str, Any]], rng: random.Random, count: int = 20
) -> dict[str, float]:
    """Milliseconds to replace one subscription with another of the same mix, `count` times."""
    times = []
    for _ in range(count):
        target = rng.choice(list(index.by_id))
        new = compile_subscription(target, f"s{target}", rng.choice(specs))
        started = time.perf_counter()
        index.replaced([target], [new])
        times.append((time.perf_counter() - started) * 1000)
    return summary(times, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2_000, help="pushes timed per rep (index)")
    parser.add_argument("--scan-events", type=int, default=20, help="pushes timed per rep (scan)")
    args = parser.parse_args(argv)
    rng = random.Random(20261128)
    cpu_before = cpu_ms()
    specs = subscription_specs(args.subscriptions, rng)
    started = time.perf_counter()
    subscriptions = [compile_subscription(n, f"s{n}", spec) for n, spec in enumerate(specs, 1)]
    compile_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    index = SubscriptionIndex(subscriptions)
    index_ms = (time.perf_counter() - started) * 1000
    log(
        f"{len(subscriptions):,} subscriptions compiled in {compile_ms:.0f} ms, "
        f"indexed in {index_ms:.0f} ms in {len(index.buckets):,} buckets"
    )
    events = pushes(args.events, rng)
    sample = events[: args.scan_events]
    result: dict[str, Any] = {
        "subscriptions": len(subscriptions),
        "repositories": ORGS * REPOS_PER_ORG,
        "build_ms": {"compile": round(compile_ms), "index": round(index_ms)},
        "buckets": len(index.buckets),
        **measure(index, subscriptions, events, sample),
        "replace_one": replacing(index, specs, rng),
    }
    result["same_matches_as_scan"] = same_matches(index, subscriptions, sample)
    result["goal_index_median_under_1_ms"] = result["index_per_event"]["median_ms"] < 1
    result["machine"] = {
        "cpu_probe_ms": [round(cpu_before, 1), round(cpu_ms(), 1)],
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["same_matches_as_scan"] else 1


if __name__ == "__main__":
    sys.exit(main())
