"""`make bench`: Axon's webhook intake against two baselines on the same gunicorn, interleaved;
paced latency; and event → run submitted on the full production setup.

    .venv/bin/python -m tests.benchmarks.ingest

Prints one JSON document to stdout (progress goes to stderr) and writes it to
var/bench/ingest.json. Exits 1 when a figure is invalid (an error answer, a lost delivery).
See tests/benchmarks/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import requests

from tests.benchmarks import figures, first_enqueue, paced, probes, submitted
from tests.benchmarks.ingest_options import Config, arguments
from tests.benchmarks.stack import (
    RABBITMQ,
    SECRET,
    Gunicorn,
    Queue,
    Tables,
    push_headers,
    subscribe,
    wait_drained,
)
from tests.benchmarks.wrk import Load, WrkResult, executable
from tests.conftest import FIXTURES, drop_database, fresh_database, github_headers, sign
from tests.e2e.harness import ROOT

OUT = ROOT / "var" / "bench"
FIXTURE = "webhooks/github/push_branch_commits.json"
APPS = {
    "bare": "tests.benchmarks.baselines:bare",
    "insert": "tests.benchmarks.baselines:insert",
    "insert_publish": "tests.benchmarks.baselines:insert_publish",
    "axon": "wsgi:app",
}
BASELINES = ("bare", "insert", "insert_publish")
# The table each server writes a delivery to, counted to check that every 202 was stored.
ROWS = {
    "insert": "bench_baseline_deliveries",
    "insert_publish": "bench_baseline_deliveries",
    "axon": "deliveries",
}
_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Bench:
    """The servers, database and queue of one benchmark run, torn down by `stack`."""

    def __init__(self, cfg: Config, stack: ExitStack) -> None:
        self.cfg, self.stack = cfg, stack
        self.body_file = FIXTURES / FIXTURE
        self.body = self.body_file.read_bytes()
        self.load = Load(
            self.body_file, sign(SECRET, self.body), cfg.wrk_threads, cfg.wrk_connections
        )
        self.home = OUT / "home"
        shutil.rmtree(self.home, ignore_errors=True)
        self.db_url = fresh_database("axon_bench")
        stack.callback(drop_database, self.db_url)
        self.queue = Queue(f"axon-bench-{uuid.uuid4().hex[:8]}")
        stack.callback(self.queue.delete)
        # insert_publish's own queue: its messages are counted apart from Axon's.
        self.baseline_queue = Queue(f"{self.queue.name}-baseline")
        stack.callback(self.baseline_queue.delete)
        self.tables = Tables(self.db_url)
        stack.callback(self.tables.dispose)
        self.servers: dict[str, Gunicorn] = {}
        self.project = self.source = ""
        self.problems: list[str] = []

    def env(self) -> dict[str, str]:
        return {
            "AXON_EMBEDDED": "false",
            "AXON_DATABASE_URL": self.db_url,
            "AXON_BROKER_URL": RABBITMQ,
            "AXON_QUEUE": self.queue.name,
            # Nothing reports anywhere (the subscription says `report: {}`); belt and braces.
            "AXON_GITHUB_API_URL": "http://127.0.0.1:9",
            "AXON_SLACK_WEBHOOK_URL": "",
            "BENCH_SECRET": SECRET,
            "BENCH_DATABASE_URL": self.db_url,
            "BENCH_BROKER_URL": RABBITMQ,
            "BENCH_PUBLISH_QUEUE": self.baseline_queue.name,
        }

    def start_servers(self) -> None:
        for name, app in APPS.items():
            log(f"starting {name}: gunicorn {app}")
            server = Gunicorn(app, self.home / name, self.env(), relay=name == "axon")
            self.stack.callback(server.stop)
            server.start()
            self.servers[name] = server
        self.project, self.source = subscribe(self.servers["axon"], SECRET)

    @property
    def path(self) -> str:
        return f"/webhooks/github/{self.source}"

    def reset(self) -> None:
        self.tables.truncate(*set(ROWS.values()))
        self.queue.purge()
        self.baseline_queue.purge()

    def verify(self) -> None:
        """Each server answers one signed push 202 (and Axon stores it) before any load."""
        for name, server in self.servers.items():
            headers = github_headers("push", self.body, SECRET, f"verify-{uuid.uuid4().hex}")
            answer = requests.post(
                server.url + self.path, data=self.body, headers=headers, timeout=10
            )
            if answer.status_code != 202:
                raise RuntimeError(f"{name} answered {answer.status_code}: {answer.text[:300]}")
            if name == "axon":
                delivery = server.api("GET", f"/api/v1/deliveries/{answer.json()['delivery']}")
                if delivery.status_code != 200 or delivery.json()["status"] != "received":
                    raise RuntimeError(f"axon stored no delivery row: {delivery.text[:300]}")
            if name in ROWS and self.tables.count(ROWS[name]) != 1:
                raise RuntimeError(f"{name}: the verified push left no row in {ROWS[name]}")
            if name == "insert_publish" and not self._published(1)["all_on_queue"]:
                raise RuntimeError("insert_publish: the verified push left no message queued")
            self.tables.truncate(*set(ROWS.values()))
        wait_drained(self.queue, self.tables)
        self.reset()

    def _published(self, rows: int, timeout: float = 5.0) -> dict[str, Any]:
        """insert_publish's queue once it holds a message per stored row (or at `timeout`).

        The baseline publishes before it answers, but the broker counts a message only once
        it has routed it, a moment later."""
        deadline = time.monotonic() + timeout
        while (depth := self.baseline_queue.depth()) < rows and time.monotonic() < deadline:
            time.sleep(0.05)
        return {"queued": depth, "all_on_queue": depth >= rows}

    def rep(self, name: str, number: int) -> dict[str, Any]:
        url = self.servers[name].url + self.path
        self.reset()
        self.load.run(url, self.cfg.warmup_s)
        if name == "axon":
            wait_drained(self.queue, self.tables)
        before = self.tables.count(ROWS[name]) if name in ROWS else 0
        result = self.load.run(url, self.cfg.duration_s)
        figures_: dict[str, Any] = result.as_dict()
        if name in ROWS:
            figures_["rows_written"] = self.tables.count(ROWS[name]) - before
            self._check_stored(name, number, result, figures_["rows_written"])
        if name == "axon":
            figures_["relay"] = wait_drained(self.queue, self.tables)
        if name == "insert_publish":
            figures_["publish"] = self._published(self.tables.count(ROWS[name]))
            if not figures_["publish"]["all_on_queue"]:
                self.problems.append(
                    f"ingest {name} rep {number}: {figures_['publish']['queued']} messages "
                    f"queued for {self.tables.count(ROWS[name])} stored deliveries"
                )
        if result.errors:
            self.problems.append(f"ingest {name} rep {number}: {result.errors} error answers")
        log(
            f"{name} rep {number}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, errors {result.errors}"
        )
        return figures_

    def _check_stored(self, name: str, number: int, result: WrkResult, rows: int) -> None:
        # Every request wrk saw answered 2xx must be a committed row; a few more may have
        # committed while wrk was stopping.
        if rows < result.requests - result.non_2xx:
            self.problems.append(
                f"ingest {name} rep {number}: {result.requests} answered, only {rows} stored"
            )

    def ingest(self) -> dict[str, Any]:
        reps: dict[str, list[dict[str, Any]]] = {name: [] for name in APPS}
        for number in range(1, self.cfg.reps + 1):
            for name in APPS:  # interleaved: bare, insert, axon, bare, ...
                reps[name].append(self.rep(name, number))
        result: dict[str, Any] = {name: summarize(runs) for name, runs in reps.items()}
        result["ratios"] = {
            f"axon/{base}": {
                key: figures.ratios([r[key] for r in reps["axon"]], [r[key] for r in reps[base]])
                for key in ("rps", "p50_ms", "p99_ms")
            }
            for base in BASELINES
        }
        return result

    def first_enqueue(self) -> dict[str, Any]:
        """Pushes one at a time after quiet spells: how soon the relay queues each one's task."""
        self.reset()
        axon = self.servers["axon"]
        result = first_enqueue.measure(axon.port, self.path, self.body, self.queue.name)
        if result["queued"] != result["pushes"]:
            self.problems.append(
                f"first_enqueue: {result['queued']} of {result['pushes']} tasks reached the queue"
            )
        log(f"first delivery after quiet → queued: {result['sent_to_queued']}")
        return result

    def paced_rep(self, name: str, number: int) -> dict[str, Any]:
        self.reset()
        count = int(self.cfg.paced_rate * self.cfg.paced_s)
        port = self.servers[name].port
        target = paced.Target(
            "127.0.0.1", port, self.path, self.body, push_headers(self.body, "paced")
        )
        rep = paced_summary(paced.send(target, self.cfg.paced_rate, count), count)
        if rep["not_202"]:
            self.problems.append(f"paced {name} rep {number}: {rep['not_202']} answers not 202")
        if name == "axon":
            rep["relay"] = wait_drained(self.queue, self.tables)
        log(f"paced {name} rep {number}: {rep['latency']}")
        return rep

    def paced(self) -> dict[str, Any]:
        reps: dict[str, list[dict[str, Any]]] = {name: [] for name in APPS}
        for number in range(1, self.cfg.paced_reps + 1):
            for name in APPS:
                reps[name].append(self.paced_rep(name, number))
        result: dict[str, Any] = {"rate_per_s": self.cfg.paced_rate, "seconds": self.cfg.paced_s}
        for name, runs in reps.items():
            result[name] = {
                "p50_ms": figures.spread([r["latency"]["p50_ms"] for r in runs]),
                "p99_ms": figures.spread([r["latency"]["p99_ms"] for r in runs]),
                "max_ms": max(r["latency"]["max_ms"] for r in runs),
                "not_202": sum(r["not_202"] for r in runs),
                "reps": runs,
            }
        result["ratios"] = {
            f"axon/{base}": {
                key: figures.ratio(result["axon"][key]["median"], result[base][key]["median"])
                for key in ("p50_ms", "p99_ms")
            }
            for base in BASELINES
        }
        return result


def summarize(reps: list[dict[str, Any]]) -> dict[str, Any]:
    non_2xx = sum(r["non_2xx"] for r in reps)
    socket_errors = sum(sum(r["socket_errors"].values()) for r in reps)
    return {
        "rps": figures.spread([r["rps"] for r in reps], 1),
        "p50_ms": figures.spread([r["p50_ms"] for r in reps]),
        "p99_ms": figures.spread([r["p99_ms"] for r in reps]),
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "valid": non_2xx == 0 and socket_errors == 0,
        "reps": reps,
    }


def paced_summary(samples: list[paced.Sample], expected: int) -> dict[str, Any]:
    answered = [s for s in samples if s.status]
    return {
        "sent": len(samples),
        "expected": expected,
        "not_202": sum(1 for s in samples if s.status != 202) + expected - len(samples),
        "errors": sorted({s.error for s in samples if s.error})[:5],
        "latency": figures.latency([s.latency_ms for s in answered]),
        "service": figures.latency([s.service_ms for s in answered]),
        "max_lateness_ms": round(max((s.lateness_ms for s in samples), default=0.0), 2),
    }


def targets(report: dict[str, Any]) -> dict[str, bool | None]:
    """The intake's SLO (README, "Production"), judged on this run; None: not measured."""
    ratios = report.get("ingest", {}).get("ratios", {}).get("axon/insert_publish", {})
    first = report.get("first_enqueue", {}).get("answered_to_queued", {})
    submitted_ = report.get("event_to_submitted", {}).get("sent_to_scheduled", {})

    def judged(value: float | None, limit: float, at_least: bool = False) -> bool | None:
        if value is None:
            return None
        return value >= limit if at_least else value < limit

    return {
        "rps_at_least_1.2x_insert_publish": judged(
            ratios.get("rps", {}).get("of_medians"), 1.2, at_least=True
        ),
        "p99_at_most_1.5x_insert_publish": judged(
            ratios.get("p99_ms", {}).get("of_medians"), 1.5 + 1e-9
        ),
        "first_after_quiet_queued_within_10ms_p99": judged(first.get("p99_ms"), 10 + 1e-9),
        "submitted_p50_under_15ms": judged(submitted_.get("p50_ms"), 15),
        "submitted_p99_under_60ms": judged(submitted_.get("p99_ms"), 60),
    }


def machine(bench_db: Tables) -> dict[str, Any]:
    wrk = subprocess.run([executable(), "-v"], capture_output=True, text=True, check=False)
    with bench_db.engine.connect() as conn:
        postgres = conn.exec_driver_sql("SHOW server_version").scalar()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0].strip(),
    }


def config(cfg: Config, bench: Bench) -> dict[str, Any]:
    sample = bench.load.command("http://127.0.0.1:PORT" + bench.path, cfg.duration_s)
    return {
        **asdict(cfg),
        "fixture": f"tests/fixtures/{FIXTURE}",
        "body_bytes": len(bench.body),
        "servers": {name: server.command_line() for name, server in bench.servers.items()},
        "wrk_command": " ".join(["wrk", *sample[1:-3], "<body> <signature> <nonce>"]),
        "worker_during_ingest": False,
        "relay_during_ingest": "axon agent (publishes what the API stores)",
    }


def _interrupt(signum: int, _frame: Any) -> None:
    if signum == signal.SIGALRM:
        raise TimeoutError("the benchmark ran over its time budget")
    raise KeyboardInterrupt(f"signal {signum}")


def _show_logs(bench: Bench | None) -> None:
    if bench is None:
        return
    for path in sorted(bench.home.glob("*/*.log")):
        tail = path.read_text(errors="replace")[-3000:]
        print(f"--- {path.relative_to(ROOT)}\n{tail}", file=sys.stderr)


def run(cfg: Config) -> dict[str, Any]:
    bench: Bench | None = None
    report: dict[str, Any] = {}
    try:
        with ExitStack() as stack:
            bench = Bench(cfg, stack)
            report["machine"] = machine(bench.tables)
            report["machine"]["start"] = probes.reading(bench.db_url)
            log(f"machine at start: {report['machine']['start']}")
            bench.start_servers()
            report["config"] = config(cfg, bench)
            bench.verify()
            if "ingest" in cfg.parts:
                report["ingest"] = bench.ingest()
            if "first_enqueue" in cfg.parts:
                report["first_enqueue"] = bench.first_enqueue()
            if "paced" in cfg.parts:
                report["paced"] = bench.paced()
            if "event_to_submitted" in cfg.parts:
                report["event_to_submitted"] = submitted.measure(bench, log)
            report["machine"]["end"] = probes.reading(bench.db_url)
            log(f"machine at end: {report['machine']['end']}; stopping everything")
    except Exception:
        _show_logs(bench)
        raise
    assert bench is not None
    report["targets"] = targets(report)
    report["problems"] = bench.problems
    report["valid"] = not bench.problems
    return report


def main() -> int:
    cfg = arguments()
    executable()  # no wrk: stop now, with how to install it
    # SIGINT too: a shell starts background jobs with it ignored, and Ctrl-C must still clean up.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(cfg.budget_s)
    try:
        report = run(cfg)
    finally:
        signal.alarm(0)
    OUT.mkdir(parents=True, exist_ok=True)
    document = json.dumps(report, indent=2)
    (OUT / "ingest.json").write_text(document + "\n")
    print(document)
    log(f"done; written to {(OUT / 'ingest.json').relative_to(ROOT)}")
    return 0 if report["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
