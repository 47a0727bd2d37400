"""Event → run submitted: signed pushes, paced, through Axon's full production setup (gunicorn,
`axon worker -c 2`, `axon agent`), each timed from its send to its run's `scheduled` condition.

Both ends are read from this machine's wall clock: time.time() here, the condition's `at`
(utcnow() in the worker) there.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runners.local import LocalRunner
from tests.benchmarks import figures, paced
from tests.benchmarks.stack import push_headers
from tests.e2e.harness import Axon

if TYPE_CHECKING:
    from tests.benchmarks.ingest import Bench

WAITING = frozenset({"created", "compiled", "queued"})
FINISHED = frozenset({"succeeded", "failed", "stopped", "skipped", "upstream_failed"})
STAGES = ("created", "compiled", "queued", "scheduled", "succeeded")
# Pushes sent in a burst before anything is timed, so both worker processes have done their
# first task (the first one a worker process runs is much slower than the rest).
WARM_UP, WARM_UP_RATE = 8, 50.0
SETTLE_S = 3.0


def _cancel_runs(root: Path) -> None:
    """Stop any job still going (there should be none: each one runs `pass`)."""
    if not root.is_dir():
        return
    runner = LocalRunner(root)
    for run_dir in root.iterdir():
        with contextlib.suppress(ValueError, OSError):
            runner.cancel(run_dir.name)  # does nothing to a run that has ended


def _start_stack(bench: Bench) -> Axon:
    home = bench.home / "stack"
    home.mkdir(parents=True, exist_ok=True)
    axon = Axon("production", home, bench.env())
    bench.stack.callback(_cancel_runs, home / "runs")
    bench.stack.callback(axon.stop)
    return axon.start()


def _push(bench: Bench, axon: Axon, count: int, rate: float, tag: str) -> list[paced.Sample]:
    target = paced.Target(
        "127.0.0.1",
        axon.port,
        bench.path,
        bench.body,
        push_headers(bench.body, tag),
        keep_alive=False,  # a connection per delivery, as GitHub sends them
    )
    return paced.send(target, rate, count, threads=4)


def _deliveries(samples: list[paced.Sample], problems: list[str]) -> dict[int, paced.Sample]:
    found = {}
    for sample in samples:
        if sample.status != 202:
            problems.append(f"event_to_submitted: push {sample.index} answered {sample.status}")
            continue
        found[int(json.loads(sample.body)["delivery"])] = sample
    return found


def _runs(
    axon: Axon, project: str, deliveries: set[int], finished: bool, timeout: float
) -> dict[int, dict[str, Any]]:
    """The run of each delivery, once every one is past `queued` (or, with `finished`, done);
    what there is when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        listed = axon.api("GET", "/api/v1/runs", params={"project": project, "limit": 500})
        runs = {r["delivery"]: r for r in listed.json() if r["delivery"] in deliveries}
        statuses = [runs[d]["status"] if d in runs else "created" for d in deliveries]
        ready = all(s in FINISHED if finished else s not in WAITING for s in statuses)
        if ready or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def _timelines(
    axon: Axon, samples: dict[int, paced.Sample], runs: dict[int, Any]
) -> list[dict[str, Any]]:
    """Per push: the milliseconds from its send to its answer and to each of its run's
    conditions."""
    timelines = []
    for delivery, sample in samples.items():
        stages: dict[str, float] = {}
        if delivery in runs:
            run = axon.api("GET", f"/api/v1/runs/{runs[delivery]['uuid']}").json()
            for condition in run["conditions"]:
                at = datetime.fromisoformat(condition["at"]).timestamp()
                stages.setdefault(condition["status"], round((at - sample.sent_at) * 1000, 2))
        answered = round(sample.service_ms, 2)
        timelines.append({"index": sample.index, "answered_ms": answered, "stages_ms": stages})
    return timelines


def _figures(timelines: list[dict[str, Any]]) -> dict[str, Any]:
    stage = {s: [t["stages_ms"][s] for t in timelines if s in t["stages_ms"]] for s in STAGES}
    reached = [t for t in timelines if "scheduled" in t["stages_ms"]]
    slowest = max(reached, key=lambda t: t["stages_ms"]["scheduled"], default=None)
    return {
        "reached_scheduled": len(stage["scheduled"]),
        "succeeded": len(stage["succeeded"]),
        "sent_to_scheduled": figures.latency(stage["scheduled"]),
        "webhook_answered": figures.latency([t["answered_ms"] for t in timelines]),
        "stage_p50_ms": {
            name: round(figures.percentile(values, 50), 2)
            for name, values in stage.items()
            if values
        },
        "slowest": slowest,
    }


def measure(bench: Bench, log: Callable[[str], None]) -> dict[str, Any]:
    cfg = bench.cfg
    bench.servers.pop("axon").stop()  # the API-only server makes way for the full stack
    bench.reset()
    log("starting Axon's production stack: gunicorn, axon worker -c 2, axon agent")
    axon = _start_stack(bench)
    warm = _deliveries(_push(bench, axon, WARM_UP, WARM_UP_RATE, "warm"), bench.problems)
    warm_runs = _runs(axon, bench.project, set(warm), finished=True, timeout=60)
    # Each transition of a warm-up run enqueues a report task, some retried 0.5 s later;
    # let them pass so the first timed push does not queue behind them.
    time.sleep(SETTLE_S)
    log(f"sending {cfg.events} pushes at {cfg.event_rate:g}/s")
    samples = _push(bench, axon, cfg.events, cfg.event_rate, "event")
    sent = _deliveries(samples, bench.problems)
    runs = _runs(axon, bench.project, set(sent), finished=True, timeout=30)
    result = {
        "n": cfg.events,
        "rate_per_s": cfg.event_rate,
        "runs": len(runs),
        **_figures(_timelines(axon, sent, runs)),
        "max_send_lateness_ms": round(max((s.lateness_ms for s in samples), default=0.0), 2),
        "warm_up": {
            "pushes": WARM_UP,
            "rate_per_s": WARM_UP_RATE,
            "sent_to_scheduled": _figures(_timelines(axon, warm, warm_runs))["sent_to_scheduled"],
        },
    }
    if result["reached_scheduled"] != cfg.events:
        bench.problems.append(
            f"event_to_submitted: {result['reached_scheduled']} of {cfg.events} runs "
            "reached scheduled"
        )
    log(f"event → scheduled: {result['sent_to_scheduled']}")
    return result
