"""1,000 concurrent runs on the Kubernetes API-server double: how late Axon records each status,
and how many API calls a run costs.

    .venv/bin/python -m tests.benchmarks.kubernetes [--runs 1000] [--reps 3] [--seconds 20]
        [--kubeconfig /tmp/kube-real/kubeconfig --namespace axon-test]

Each rep starts a fresh double in its own process (real-time clock; it notes the wall time of
every write its simulated controllers make), creates `--runs` runs in a fresh PostgreSQL
database, and submits them all through `ci.runs.launch.start_run` (four threads, as workers would)
while `ci.agent.process.Agent` watches, as `axon agent` does, in this process. Every pod runs
`--seconds` and writes two log lines. For each run and each of `starting` (the Job is stored),
`running` (its pod turns Running) and `succeeded` (the Job gets Complete=True): the lag from
the double's write to the commit of Axon's transition (noted as the commit returns, before the
reactions to it run).

Baseline, in the same rep and on the very same writes: a bare `kubernetes.watch.Watch` of
jobs and pods (label selector, official client, its own process) noting when each write
reaches it. The ratio Axon/baseline is what Axon adds on top of hearing the news: its tracker,
the database transaction, and at the end reading the run's logs. API calls per run come from
the double's request counters, Axon's and the baseline's told apart by their label selector.
Prints one JSON document; progress on stderr.

With `--kubeconfig`, the runs go to that cluster instead (the real test bed of
../shared/tools/kube-real; its kubelet stand-in runs each pod `--seconds`, told by a pod label).
No write is timed there but by watching it, so each lag is from the bare watch's arrival: what
Axon adds on top of a watch that hears the news (the figures on the double add the watch's own
delivery, the baseline's lag). The API calls are not counted there.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.benchmarks.figures import latency, ratios, spread
from tests.benchmarks.probes import reading

STATUSES = ("starting", "running", "succeeded")
BASELINE_SELECTOR = "axon.dev/managed=true,app.kubernetes.io/managed-by=axon"
_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# -- the double, in its own process ---------------------------------------------------------------


def transition(plural: str, kind: str, obj: dict[str, Any]) -> str | None:
    """ "<run uuid> <status>" when this write is one a status is read from, else None."""
    uuid = (obj["metadata"].get("labels") or {}).get("axon.dev/run-uuid")
    if not uuid or kind not in ("ADDED", "MODIFIED"):
        return None
    status = obj.get("status") or {}
    if plural == "jobs" and kind == "ADDED":
        return f"{uuid} starting"
    if plural == "jobs" and any(
        c["type"] == "Complete" and c["status"] == "True" for c in status.get("conditions") or []
    ):
        return f"{uuid} succeeded"
    if plural == "pods" and status.get("phase") == "Running":
        return f"{uuid} running"
    return None


def serve_double(connection: Any, seconds: float) -> None:
    """Run a double until told to stop; then send back when each status's write happened."""
    from tests.fakes.kubernetes import KubernetesDouble, PodScript

    written: dict[str, float] = {}

    def note(change: Any) -> None:
        found = transition(change.resource.plural, change.type, change.obj)
        if found is not None and found not in written:
            written[found] = time.time()

    script = PodScript(duration=seconds, logs=["epoch 1: loss 0.5", "epoch 2: loss 0.25"])
    with KubernetesDouble(speed=1.0, watch_timeout=300, bookmark_interval=30) as k8s:
        k8s.default_script = script
        k8s.cluster.store.add_listener(note)
        connection.send(k8s.url)
        connection.recv()  # stop
        with k8s.cluster.store.cond:
            calls = Counter()
            for call in k8s.api.requests:
                baseline = call.query.get("labelSelector") == BASELINE_SELECTOR
                calls[f"{'baseline' if baseline else 'axon'} {call.verb} {call.resource}"] += 1
            found = dict(written)
        connection.send({"written": found, "calls": dict(calls), "errors": len(k8s.errors)})


# -- the baseline: a bare watch, in its own process -----------------------------------------------


def bare_watch(url: str, expected: int, connection: Any, namespace: str = "default") -> None:
    """Watch jobs and pods as any client would; note when each status's write arrives. `url`
    is the double's, or a kubeconfig file's path."""
    from kubernetes import client, config, watch

    if url.startswith("http"):
        api = client.ApiClient(client.Configuration(host=url))
    else:
        api = config.new_client_from_config(config_file=url)
    seen: dict[str, float] = {}
    done = threading.Event()
    lock = threading.Lock()

    def follow(function: Callable[..., Any], plural: str) -> None:
        # Raw JSON, as Axon's watches read it: no model objects on either side.
        stream = watch.Watch().stream(
            function, namespace, label_selector=BASELINE_SELECTOR, deserialize=False
        )
        for event in stream:
            if done.is_set():
                return
            found = transition(plural, event["type"], event["object"])
            with lock:
                if found is not None and found not in seen:
                    seen[found] = time.time()
                    ended = sum(key.endswith(" succeeded") for key in seen)
                    if ended >= expected:
                        done.set()

    for function, plural in (
        (client.BatchV1Api(api).list_namespaced_job, "jobs"),
        (client.CoreV1Api(api).list_namespaced_pod, "pods"),
    ):
        threading.Thread(target=follow, args=(function, plural), daemon=True).start()
    connection.send("watching")
    done.wait(timeout=600)
    connection.send(seen)


# -- Axon ---------------------------------------------------------------------------------------


def operation(seconds: float) -> dict[str, Any]:
    # The label tells the real bed's kubelet stand-in how long the pod runs; the double ignores it.
    environment = {"labels": {"axon-test/run-seconds": f"{seconds:g}"}}
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "termination": {"timeout": int(seconds * 20)},
            "run": {
                "kind": "job",
                "container": {"image": "python:3.11", "command": ["python", "train.py"]},
                "environment": environment,
            },
        },
    }


def axon_rep(rt: Any, runs: int, seconds: float, rep: int) -> dict[str, Any]:
    """Create and submit `runs` runs while an agent watches; when each status committed."""
    from sqlalchemy import event, select
    from sqlalchemy.orm import Session

    from ci.agent.process import Agent
    from ci.runs import launch, lifecycle
    from ci.store.models import Project, Run

    committed: dict[tuple[int, str], float] = {}
    last_commit = threading.local()

    def stamp(session: Session) -> None:
        # Before the reactions run (they are called from this same event, and a transaction
        # that moved many runs calls many): a run's status is stored when its commit returns.
        if "moves" in session.info:
            last_commit.at = time.time()

    def note(run_id: int, status: Any) -> None:
        committed.setdefault((run_id, str(status)), getattr(last_commit, "at", time.time()))

    event.listen(Session, "after_commit", stamp, insert=True)
    lifecycle.reactions.append(note)
    stop = threading.Event()
    agent = Agent(rt, "kubernetes")
    watcher = threading.Thread(target=agent.watch, args=(stop,), daemon=True)
    watcher.start()
    try:
        with rt.db.session() as session:
            project = Project(name=f"bench-{rep}-{os.getpid()}")
            session.add(project)
            session.flush()
            rows = [
                Run(
                    project_id=project.id,
                    name="train",
                    spec=operation(seconds),
                    runner="kubernetes",
                )
                for _ in range(runs)
            ]
            for row in rows:
                lifecycle.create(session, row, "Benchmark")
            session.flush()
            ids = {row.id: row.uuid for row in rows}

        def start(run_id: int) -> None:
            with rt.db.session() as session:
                launch.start_run(rt, session, run_id)

        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(start, ids))
        submitted_s = time.monotonic() - started
        say(f"rep {rep}: {runs} runs submitted in {submitted_s:.1f}s")
        deadline = time.monotonic() + seconds * 3 + 120
        while time.monotonic() < deadline:
            ended = sum(1 for (_, status) in list(committed) if status == "succeeded")
            if ended >= runs:
                break
            time.sleep(0.2)
        with rt.db.session() as session:
            statuses = Counter(session.scalars(select(Run.status).where(Run.id.in_(list(ids)))))
    finally:
        stop.set()
        watcher.join(timeout=10)
        lifecycle.reactions.remove(note)
        event.remove(Session, "after_commit", stamp)
    return {
        "submitted_s": round(submitted_s, 2),
        "statuses": dict(statuses),
        "committed": {
            f"{ids[run_id]} {status}": at
            for (run_id, status), at in committed.items()
            if run_id in ids
        },
    }


def lags(written: dict[str, float], arrived: dict[str, float], status: str) -> list[float]:
    return [
        (arrived[key] - at) * 1000
        for key, at in written.items()
        if key.endswith(f" {status}") and key in arrived
    ]


def real_rep(rt: Any, args: argparse.Namespace, rep: int) -> dict[str, Any]:
    """One rep on a real cluster: the bare watch's arrivals stand for the writes."""
    context = multiprocessing.get_context("spawn")
    update = {"kubernetes_kubeconfig": args.kubeconfig, "kubernetes_namespace": args.namespace}
    rt.settings = rt.settings.model_copy(update=update)
    rt.close_runners()
    watch_end, watch_here = context.Pipe()
    watch_args = (args.kubeconfig, args.runs, watch_end, args.namespace)
    baseline = context.Process(target=bare_watch, args=watch_args, daemon=True)
    baseline.start()
    assert watch_here.recv() == "watching"
    axon = axon_rep(rt, args.runs, args.seconds, rep)
    seen = watch_here.recv() if watch_here.poll(args.seconds * 3 + 60) else {}
    baseline.join(timeout=10)
    figures: dict[str, Any] = {"submitted_s": axon["submitted_s"], "statuses": axon["statuses"]}
    for status in STATUSES:
        heard = lags(seen, axon["committed"], status)
        figures[status] = {"axon": latency(heard), "baseline": latency([0.0] * len(heard))}
    return figures


def one_rep(rt: Any, runs: int, seconds: float, rep: int, home: Path) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    double_end, here = context.Pipe()
    double = context.Process(target=serve_double, args=(double_end, seconds), daemon=True)
    double.start()
    url = here.recv()
    kubeconfig = home / f"kubeconfig-{rep}"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: double\n"
        f"clusters:\n- name: double\n  cluster:\n    server: {url}\n"
        "users:\n- name: double\n  user: {}\n"
        "contexts:\n- name: double\n  context:\n    cluster: double\n    user: double\n"
    )
    # A new cluster each rep: the runner is made again from the settings.
    rt.settings = rt.settings.model_copy(update={"kubernetes_kubeconfig": str(kubeconfig)})
    rt.close_runners()
    watch_end, watch_here = context.Pipe()
    baseline = context.Process(target=bare_watch, args=(url, runs, watch_end), daemon=True)
    baseline.start()
    assert watch_here.recv() == "watching"
    axon = axon_rep(rt, runs, seconds, rep)
    seen = watch_here.recv() if watch_here.poll(seconds * 3 + 60) else {}
    here.send("stop")
    double_side = here.recv()
    double.join(timeout=10)
    baseline.join(timeout=10)
    written = double_side["written"]
    figures: dict[str, Any] = {"submitted_s": axon["submitted_s"], "statuses": axon["statuses"]}
    for status in STATUSES:
        figures[status] = {
            "axon": latency(lags(written, axon["committed"], status)),
            "baseline": latency(lags(written, seen, status)),
        }
    calls = Counter(double_side["calls"])
    axon_calls = {k.removeprefix("axon "): v for k, v in calls.items() if k.startswith("axon ")}
    figures["api_calls_per_run"] = round(sum(axon_calls.values()) / runs, 2)
    figures["api_calls_by_kind_per_run"] = {
        k: round(v / runs, 3) for k, v in sorted(axon_calls.items(), key=lambda kv: -kv[1])
    }
    figures["baseline_api_calls"] = sum(v for k, v in calls.items() if k.startswith("baseline "))
    figures["double_errors"] = double_side["errors"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kubeconfig", help="a real cluster's, instead of the double")
    parser.add_argument("--namespace", default="axon-test", help="with --kubeconfig")
    args = parser.parse_args()

    from ci import runtime, wiring
    from ci.config import Settings
    from tests.conftest import drop_database, fresh_database

    url = fresh_database("axon_bench_k8s")
    home = Path(tempfile.mkdtemp(prefix="axon-bench-k8s-"))
    try:
        machine_start = reading(url)
        settings = Settings(
            home=str(home),
            database_url=url,
            broker_url="memory://",
            embedded=False,
            runner="kubernetes",
            secret_key="bench",
            log_level="WARNING",
        )
        rt = wiring.wire(runtime.init(settings))
        # Each rep's double goes away under the last watches' feet: that is not news.
        for noisy in ("urllib3", "runners.kubernetes.watch"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        reps = []
        for rep in range(1, args.reps + 1):
            say(f"rep {rep} of {args.reps}: {args.runs} runs of {args.seconds:g}s")
            if args.kubeconfig:
                reps.append(real_rep(rt, args, rep))
            else:
                reps.append(one_rep(rt, args.runs, args.seconds, rep, home))
            say(f"rep {rep}: {json.dumps({s: reps[-1][s] for s in STATUSES})}")
        machine_end = reading(url)
    finally:
        runtime.get().close()
        drop_database(url)
    print(json.dumps(summary(args, reps, machine_start, machine_end), indent=2))


def summary(
    args: argparse.Namespace, reps: list[dict[str, Any]], start: Any, end: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "runs": args.runs,
        "reps": args.reps,
        "pod_seconds": args.seconds,
        "cluster": args.kubeconfig or "the API-server double",
        "machine": {"start": start, "end": end},
    }
    for status in STATUSES:
        figures: dict[str, Any] = {}
        for side in ("axon", "baseline"):
            for q in ("p50_ms", "p99_ms"):
                values = [r[status][side][q] for r in reps if q in r[status][side]]
                figures[f"{side}_{q}"] = spread(values) if values else None
        for q in ("p50_ms", "p99_ms"):
            axon = [r[status]["axon"].get(q, 0) for r in reps]
            base = [r[status]["baseline"].get(q, 0) for r in reps]
            figures[f"axon/baseline_{q}"] = ratios(axon, base)
        out[status] = figures
    calls = [r["api_calls_per_run"] for r in reps if "api_calls_per_run" in r]
    out["api_calls_per_run"] = spread(calls) if calls else None
    out["every_rep"] = reps
    return out


if __name__ == "__main__":
    main()
