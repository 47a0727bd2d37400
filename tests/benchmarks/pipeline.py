"""A 1,000-op fan-out/fan-in dag of no-op jobs on Axon's production stack, against a bare loop
that inserts and commits the same rows, interleaved.

    .venv/bin/python -m tests.benchmarks.pipeline [--ops 1000] [--reps 3]

Axon: gunicorn + `axon worker -c 2` + `axon agent` (tests.e2e.harness, production mode) on a
fresh PostgreSQL database and its own RabbitMQ queue, local runner. Each rep starts a dag by
hand (`POST /api/v1/projects/<p>/runs`): a root op, `--ops - 2` middle ops each waiting for the
root, and a sink waiting for every middle op; every op runs `true`, its cache disabled, and has
no event (nothing to check out). Once the dag is done its ops' conditions are read from the
database. Per op, "ready" is the latest `succeeded` of its upstreams (the root: the dag's
`running`), and ready -> `queued` is reported. The scheduling overhead per op, the figure the
target is judged on, is the gap between successive middle ops' `queued` (998 ops released at
once wait behind each other: ready -> `queued` measures that queue); the fan-in is the last
middle op's end -> sink `queued`, split at the moment the agent recorded that end.

Baseline, in the same run and interleaved (bare, axon, bare, axon, ...): a loop that inserts
and commits, one op at a time, the rows an op gets up to `queued` (its run row, with the same
spec and compiled document, and its created/compiled/queued conditions), SQLAlchemy Core.

Prints one JSON document on stdout (progress on stderr); exit status 1 when a figure is invalid
(`problems`: an op that did not succeed, a count that is off). See tests/benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, insert, select
from sqlalchemy.engine import Engine

from ci.store.models import Condition, Run
from tests.benchmarks import figures, probes
from tests.benchmarks.stack import RABBITMQ, Queue
from tests.benchmarks.submitted import _cancel_runs
from tests.conftest import drop_database, fresh_database
from tests.e2e.harness import ROOT, Axon

OUT = ROOT / "var" / "bench"
ROOT_OP, SINK_OP = "root", "sink"
UP_TO_QUEUED = ("created", "compiled", "queued")
DONE = frozenset({"succeeded", "failed", "stopped", "skipped", "upstream_failed"})
# The bare loop writes into copies of the tables: a `queued` row in `runs` is one the sweeper
# would start.
BARE_RUNS, BARE_CONDITIONS = "bench_bare_runs", "bench_bare_conditions"
WARM_UP_OPS = 6  # a small dag first, so both worker processes have run every task once
# Tasks still queued when a dag ends (mostly its reports) are waited for before the next rep.
DRAIN_S = 120
SETUP_S = 180  # the stack, the warm-up, the bare loops and the probes, on a loaded machine
_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[pipeline {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# ---- the dag and its figures (pure) -------------------------------------------------------------


def middle_names(ops: int) -> list[str]:
    if ops < 3:
        raise ValueError(f"--ops {ops}: a fan-out/fan-in dag needs at least 3 ops")
    return [f"m{index:04d}" for index in range(1, ops - 1)]


def upstreams_of(ops: int) -> dict[str, list[str]]:
    """Each op's upstreams: the root none, each middle op the root, the sink every middle op."""
    middles = middle_names(ops)
    return {ROOT_OP: [], **{name: [ROOT_OP] for name in middles}, SINK_OP: middles}


def dag_document(ops: int, command: Sequence[str]) -> dict[str, Any]:
    """The operation: `ops` no-op jobs, root -> every middle op -> sink."""
    component = {
        "name": "noop",
        "cache": {"disable": True},  # else every op after the first would be a cache hit
        "run": {"kind": "job", "container": {"image": "busybox", "command": list(command)}},
    }
    operations = [
        {"name": name, "dagRef": "noop", **({"dependencies": ups} if ups else {})}
        for name, ups in upstreams_of(ops).items()
    ]
    return {
        "version": 1.1,
        "kind": "operation",
        "name": f"fan-{ops}",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": f"fan-{ops}",
            "run": {"kind": "dag", "components": [component], "operations": operations},
        },
    }


def overheads_ms(
    conditions: Mapping[str, Mapping[str, float]],
    upstreams: Mapping[str, Sequence[str]],
    dag_running: float,
) -> dict[str, float]:
    """Per op: its `queued` minus the moment it became ready (its upstreams' latest
    `succeeded`; for an op without upstreams, the dag's `running`), in milliseconds.

    `conditions` is op -> status -> epoch seconds (the first time the op reached it). An op
    without `queued`, or whose upstream never succeeded, has no figure."""
    found = {}
    for op, ups in upstreams.items():
        queued = conditions.get(op, {}).get("queued")
        ends = [conditions.get(up, {}).get("succeeded") for up in ups]
        if queued is None or any(end is None for end in ends):
            continue
        ready = max((end for end in ends if end is not None), default=dag_running)
        found[op] = (queued - ready) * 1000
    return found


def rep_figures(
    conditions: Mapping[str, Mapping[str, float]],
    upstreams: Mapping[str, Sequence[str]],
    dag: Mapping[str, float],
) -> dict[str, Any]:
    """One rep's figures from its ops' conditions and the dag's own (`running`, `succeeded`)."""
    per_op = overheads_ms(conditions, upstreams, dag["running"])
    middles = [op for op in upstreams if op not in (ROOT_OP, SINK_OP)]
    not_root = [ms for op, ms in per_op.items() if op != ROOT_OP]
    queued = [conditions[op]["queued"] for op in middles if "queued" in conditions.get(op, {})]
    root_end = conditions.get(ROOT_OP, {}).get("succeeded")
    ops = len(upstreams)
    result: dict[str, Any] = {
        "ops": ops,
        "overhead_ms": _stats(list(per_op.values())),
        "overhead_without_root_ms": _stats(not_root),
        "fan_in_ms": round(per_op[SINK_OP], 2) if SINK_OP in per_op else None,
        "root_ms": round(per_op[ROOT_OP], 2) if ROOT_OP in per_op else None,
        "wall_s": round(dag["succeeded"] - dag["running"], 3) if "succeeded" in dag else None,
    }
    if result["wall_s"] is not None:
        result["wall_per_op_ms"] = round(result["wall_s"] * 1000 / ops, 3)
    result["middle_stages_ms"] = stages_ms(conditions, middles, root_end)
    sink_ready = max((conditions.get(op, {}).get("succeeded") or 0.0 for op in middles), default=0)
    result["sink_stages_ms"] = stages_ms(conditions, [SINK_OP], sink_ready or None)
    # The engine's cost per op while it does nothing else: the gaps between successive middle
    # ops' `queued`. Ready -> queued of an op released with 997 others mostly measures its
    # wait behind them on the worker's processes, not what the op itself costs.
    result["per_op_gap_ms"] = _stats(queued_gaps_ms(queued))
    if queued and root_end is not None:
        # The fan-out as throughput: from the root's end to the last middle op queued, per op.
        span = max(queued) - root_end
        result["fan_out_s"] = round(span, 3)
        result["fan_out_per_op_ms"] = round(span * 1000 / len(middles), 3)
    return result


def fan_in_split(
    conditions: Mapping[str, Mapping[str, float]],
    recorded: Mapping[str, float],
    middles: Sequence[str],
) -> dict[str, Any]:
    """The fan-in in two: from the last middle op's end (its supervisor's clock) to the agent
    recording it (the local runner's observation), and from there to the sink `queued` (the
    engine); and how long the agent took to record each middle op's end."""
    ended = [
        (conditions[op]["succeeded"], op) for op in middles if "succeeded" in conditions.get(op, {})
    ]
    queued = conditions.get(SINK_OP, {}).get("queued")
    if not ended or queued is None:
        return {}
    end, last = max(ended)
    lags = [(recorded[op] - at) * 1000 for at, op in ended if op in recorded]
    found: dict[str, Any] = {"end_recorded_lag_ms": _stats(lags)}
    if last in recorded:
        found["fan_in_observed_ms"] = round((recorded[last] - end) * 1000, 2)
        found["fan_in_after_recorded_ms"] = round((queued - recorded[last]) * 1000, 2)
    return found


def queued_gaps_ms(queued: Sequence[float]) -> list[float]:
    """Milliseconds between each `queued` (epoch seconds) and the next, in time order."""
    ordered = sorted(queued)
    return [(later - earlier) * 1000 for earlier, later in zip(ordered, ordered[1:], strict=False)]


STAGES = ("compiled", "queued", "scheduled", "running", "succeeded")


def stages_ms(
    conditions: Mapping[str, Mapping[str, float]], ops: Sequence[str], ready: float | None
) -> dict[str, float]:
    """Median milliseconds from `ready` to each stage the ops went through, and from each stage
    to the next: where the time goes."""
    if ready is None:
        return {}
    found: dict[str, list[float]] = {}
    for op in ops:
        seen = conditions.get(op, {})
        previous = ready
        for stage in STAGES:
            if stage not in seen:
                continue
            found.setdefault(f"ready->{stage}", []).append((seen[stage] - ready) * 1000)
            if stage != STAGES[0]:
                found.setdefault(f"->{stage}", []).append((seen[stage] - previous) * 1000)
            previous = seen[stage]
    return {key: round(statistics.median(values), 2) for key, values in found.items()}


def _stats(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3),
        "p99": round(figures.percentile(values, 99), 3),
        "max": round(max(values), 3),
    }


def problems_of(
    rep: int,
    ops: int,
    dag_status: str,
    statuses: Mapping[str, str],
    conditions: Mapping[str, Mapping[str, float]],
) -> list[str]:
    """Why a rep's figures cannot be trusted: a count that is off, an op that did not succeed."""
    found = []
    if dag_status != "succeeded":
        found.append(f"rep {rep}: the dag ended {dag_status}")
    if len(statuses) != ops:
        found.append(f"rep {rep}: {len(statuses)} ops, expected {ops}")
    failed = sorted(op for op, status in statuses.items() if status != "succeeded")
    if failed:
        found.append(f"rep {rep}: {len(failed)} op(s) did not succeed, e.g. {failed[:5]}")
    unqueued = sorted(op for op in statuses if "queued" not in conditions.get(op, {}))
    if unqueued:
        found.append(f"rep {rep}: {len(unqueued)} op(s) have no queued condition")
    return found


def summary(axon: list[dict[str, Any]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and spreads over reps, and Axon's per-op figures against the bare loop's."""
    bare_ms = [r["per_op_ms"]["median"] for r in bare]
    medians = [r["overhead_ms"]["median"] for r in axon]
    gaps = [r["per_op_gap_ms"]["median"] for r in axon if r["per_op_gap_ms"]["n"]]
    fan_outs = [r.get("fan_out_per_op_ms") or 0.0 for r in axon]
    fan_ins = [r["fan_in_ms"] for r in axon if r["fan_in_ms"] is not None]
    engine_fan_ins = [
        r["fan_in_after_recorded_ms"] for r in axon if "fan_in_after_recorded_ms" in r
    ]
    p99_all = [r["overhead_ms"]["p99"] for r in axon]
    return {
        "per_op_gap_median_ms": figures.spread(gaps, 3) if gaps else None,
        "per_op_gap_p99_ms": figures.spread(
            [r["per_op_gap_ms"]["p99"] for r in axon if r["per_op_gap_ms"]["n"]], 3
        )
        if gaps
        else None,
        "overhead_median_ms": figures.spread(medians, 3),
        "overhead_p99_ms": figures.spread(p99_all, 3),
        "overhead_without_root_median_ms": figures.spread(
            [r["overhead_without_root_ms"]["median"] for r in axon], 3
        ),
        "fan_in_ms": {
            "p99_over_reps": round(figures.percentile(fan_ins, 99), 2) if fan_ins else None,
            **(figures.spread(fan_ins) if fan_ins else {}),
        },
        "fan_in_after_recorded_ms": figures.spread(engine_fan_ins) if engine_fan_ins else None,
        "ready_to_queued_p99_over_all_ops_ms": round(
            figures.percentile([ms for r in axon for ms in r.get("_per_op_ms", ())] or [0.0], 99),
            2,
        ),
        "fan_out_per_op_ms": figures.spread(fan_outs, 3),
        "wall_per_op_ms": figures.spread([r.get("wall_per_op_ms") or 0.0 for r in axon], 3),
        "bare_per_op_ms": figures.spread(bare_ms, 3),
        "ratios": {
            "per_op_gap_median/bare": (
                figures.ratios(gaps, bare_ms) if gaps and len(gaps) == len(bare_ms) else None
            ),
            "overhead_median/bare": figures.ratios(medians, bare_ms),
            "fan_out_per_op/bare": figures.ratios(fan_outs, bare_ms),
        },
        "targets": {
            "per_op_gap_median_under_10ms": bool(gaps) and statistics.median(gaps) < 10,
            "fan_in_p99_under_250ms": bool(fan_ins) and figures.percentile(fan_ins, 99) < 250,
        },
    }


# ---- the stack ---------------------------------------------------------------------------------


class Bench:
    """The database, queue and Axon processes of one run, torn down by `stack`."""

    def __init__(self, ops: int, stack: ExitStack) -> None:
        self.ops, self.stack = ops, stack
        self.home = OUT / "pipeline-home"
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        self.db_url = fresh_database("axon_bench")
        stack.callback(drop_database, self.db_url)
        self.engine: Engine = create_engine(self.db_url)
        stack.callback(self.engine.dispose)
        self.queue = Queue(f"axon-bench-{uuid.uuid4().hex[:8]}")
        stack.callback(self.queue.delete)
        self.command = [shutil.which("true") or "/bin/true"]
        self.project = f"bench{uuid.uuid4().hex[:8]}"
        self.axon: Axon | None = None
        self.problems: list[str] = []
        self.tables = self.bare_tables()

    def env(self) -> dict[str, str]:
        return {
            "AXON_EMBEDDED": "false",
            "AXON_DATABASE_URL": self.db_url,
            "AXON_BROKER_URL": RABBITMQ,
            "AXON_QUEUE": self.queue.name,
            "AXON_GITHUB_API_URL": "http://127.0.0.1:9",  # nothing may leave the machine
            "AXON_SLACK_WEBHOOK_URL": "",
            "AXON_LOG_LEVEL": "WARNING",
        }

    def start(self) -> None:
        log("starting Axon's production stack: gunicorn, axon worker -c 2, axon agent")
        axon = Axon("production", self.home / "stack", self.env())
        (self.home / "stack").mkdir()
        self.stack.callback(_cancel_runs, self.home / "stack" / "runs")
        self.stack.callback(axon.stop)
        self.axon = axon.start()
        answer = axon.api("POST", "/api/v1/projects", json={"name": self.project})
        if answer.status_code != 201:
            raise RuntimeError(f"creating the project answered {answer.status_code}: {answer.text}")

    def run_dag(self, ops: int, timeout: float) -> tuple[str, str]:
        """Start a dag of `ops` ops by hand and wait until it is done: (uuid, status)."""
        assert self.axon is not None
        body = {"content": dag_document(ops, self.command), "actor": "bench"}
        answer = self.axon.api("POST", f"/api/v1/projects/{self.project}/runs", json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"starting the dag answered {answer.status_code}: {answer.text}")
        run_uuid = answer.json()["uuid"]
        deadline = time.monotonic() + timeout
        # Its status read from the database, not the API: the dag's detail decodes its whole
        # 1,000-op document, and four of those a second took a tenth of a core from the stack
        # being measured.
        with self.engine.connect() as conn:
            while time.monotonic() < deadline:
                status = conn.scalar(select(Run.status).where(Run.uuid == run_uuid))
                conn.rollback()  # the next read sees what committed since
                if status in DONE:
                    return run_uuid, str(status)
                time.sleep(0.25)
        log(f"the dag did not end within {timeout:g} s")
        return run_uuid, "timed out"

    def read(self, run_uuid: str) -> tuple[dict[str, float], dict[str, str], dict[str, Any]]:
        """The dag's conditions, and its ops' statuses and conditions (op -> status -> epoch
        seconds, the first time each was reached), straight from the database."""
        with self.engine.connect() as conn:
            dag_id = conn.scalar(select(Run.id).where(Run.uuid == run_uuid))
            ops = {
                row.id: (row.op_name, row.status)
                for row in conn.execute(
                    select(Run.id, Run.op_name, Run.status).where(Run.parent_id == dag_id)
                )
            }
            rows = conn.execute(
                select(Condition.run_id, Condition.status, Condition.at)
                .where(Condition.run_id.in_([dag_id, *ops]))
                .order_by(Condition.id)
            )
            dag: dict[str, float] = {}
            conditions: dict[str, dict[str, float]] = {}
            for run_id, status, at in rows:
                into = dag if run_id == dag_id else conditions.setdefault(ops[run_id][0], {})
                into.setdefault(status, _epoch(at))
        return dag, {name: status for name, status in ops.values()}, conditions

    def recorded(self, run_uuid: str) -> dict[str, float]:
        """Each op's row's last change (epoch seconds): for an op that ended, when the agent
        recorded its end (nothing writes the row's state after that)."""
        with self.engine.connect() as conn:
            dag_id = conn.scalar(select(Run.id).where(Run.uuid == run_uuid))
            rows = conn.execute(
                select(Run.op_name, Run.updated_at).where(Run.parent_id == dag_id)
            ).all()
        return {str(name): _epoch(at) for name, at in rows}

    def sample_op(self, run_uuid: str) -> dict[str, Any]:
        """A middle op's row as Axon stored it: what the bare loop writes."""
        with self.engine.connect() as conn:
            dag_id = conn.scalar(select(Run.id).where(Run.uuid == run_uuid))
            row = conn.execute(
                select(Run.project_id, Run.name, Run.spec, Run.compiled, Run.meta, Run.event)
                .where(Run.parent_id == dag_id, Run.op_name != ROOT_OP, Run.op_name != SINK_OP)
                .limit(1)
            ).one()
        return dict(row._mapping)

    def bare_tables(self) -> tuple[Table, Table]:
        """Copies of `runs` and `conditions` (columns, defaults, indexes, constraints, and the
        same foreign keys), so that no Axon process mistakes the bare rows for runs to start."""
        with self.engine.begin() as conn:
            for table, like in ((BARE_RUNS, "runs"), (BARE_CONDITIONS, "conditions")):
                conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE {like} INCLUDING ALL)")
            conn.exec_driver_sql(
                f"ALTER TABLE {BARE_RUNS} ADD FOREIGN KEY (project_id) REFERENCES projects(id), "
                f"ADD FOREIGN KEY (parent_id) REFERENCES {BARE_RUNS}(id)"
            )
            conn.exec_driver_sql(
                f"ALTER TABLE {BARE_CONDITIONS} ADD FOREIGN KEY (run_id) REFERENCES {BARE_RUNS}(id)"
            )
        metadata = MetaData()
        return (
            Run.__table__.to_metadata(metadata, name=BARE_RUNS),  # type: ignore[attr-defined]
            Condition.__table__.to_metadata(metadata, name=BARE_CONDITIONS),  # type: ignore[attr-defined]
        )

    def bare(self, number: int, sample: dict[str, Any]) -> dict[str, Any]:
        """Insert and commit each op's run row and its three conditions, one op at a time."""
        runs, conditions = self.tables
        with self.engine.begin() as conn:
            parent = conn.scalar(
                insert(runs)
                .values(project_id=sample["project_id"], name="bare", kind="dag", status="running")
                .returning(runs.c.id)
            )
        times = []
        with self.engine.connect() as conn:
            started = time.perf_counter()
            for index in range(self.ops):
                began = time.perf_counter()
                run_id = conn.scalar(
                    insert(runs)
                    .values(
                        **sample,
                        parent_id=parent,
                        op_name=f"bare{number}-{index}",
                        kind="job",
                        status="queued",
                        runner="local",
                    )
                    .returning(runs.c.id)
                )
                conn.execute(
                    insert(conditions),
                    [{"run_id": run_id, "status": s, "reason": s.title()} for s in UP_TO_QUEUED],
                )
                conn.commit()
                times.append((time.perf_counter() - began) * 1000)
            total = time.perf_counter() - started
        return {"ops": self.ops, "per_op_ms": _stats(times), "total_s": round(total, 3)}

    def drain(self, timeout: float = DRAIN_S) -> dict[str, Any]:
        """Wait until the worker has taken every task the dag left behind (its reports), so
        none of it runs during the next rep: how many there were, and how long they took."""
        started = time.monotonic()
        left = at_end = self.queue.depth()
        while left and time.monotonic() - started < timeout:
            time.sleep(0.5)
            left = self.queue.depth()
        return {"at_end": at_end, "drain_s": round(time.monotonic() - started, 1), "left": left}

    def axon_rep(self, number: int, timeout: float) -> dict[str, Any]:
        run_uuid, status = self.run_dag(self.ops, timeout)
        queue = self.drain()
        dag, statuses, conditions = self.read(run_uuid)
        self.problems += problems_of(number, self.ops, status, statuses, conditions)
        if "running" not in dag:
            self.problems.append(f"rep {number}: the dag never reached running")
            return {"uuid": run_uuid, "status": status, "queue_after_dag": queue}
        upstreams = upstreams_of(self.ops)
        rep = {"uuid": run_uuid, "status": status, **rep_figures(conditions, upstreams, dag)}
        rep["queue_after_dag"] = queue
        rep.update(fan_in_split(conditions, self.recorded(run_uuid), upstreams[SINK_OP]))
        rep["_per_op_ms"] = list(overheads_ms(conditions, upstreams, dag["running"]).values())
        return rep


def _epoch(at: datetime) -> float:
    # Conditions are stored in UTC without a zone (ci.store.db.UTCDateTime).
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def machine(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        postgres = conn.exec_driver_sql("SHOW server_version").scalar()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres,
    }


def run(ops: int, reps: int, rep_timeout: float) -> dict[str, Any]:
    report: dict[str, Any] = {"config": {"ops": ops, "reps": reps}}
    with ExitStack() as stack:
        bench = Bench(ops, stack)
        try:
            report["machine"] = machine(bench.engine)
            report["machine"]["start"] = probes.reading(bench.db_url)
            log(f"machine at start: {report['machine']['start']}")
            bench.start()
            assert bench.axon is not None
            report["config"]["stack"] = [
                " ".join(c[1][:1] + c[1][1:4]) for c in bench.axon.commands()
            ]
            report["config"]["op_command"] = bench.command
            log(f"warm-up: a dag of {WARM_UP_OPS} ops")
            warm_uuid, warm_status = bench.run_dag(WARM_UP_OPS, 60)
            if warm_status != "succeeded":
                raise RuntimeError(f"the warm-up dag ended {warm_status}\n{bench.axon.logs()}")
            sample = bench.sample_op(warm_uuid)
            axon_reps: list[dict[str, Any]] = []
            bare_reps: list[dict[str, Any]] = []
            for number in range(1, reps + 1):  # interleaved: bare, axon, bare, axon, ...
                bare_reps.append(bench.bare(number, sample))
                log(f"bare rep {number}: {bare_reps[-1]['per_op_ms']}")
                axon_reps.append(bench.axon_rep(number, rep_timeout))
                shown = {k: axon_reps[-1].get(k) for k in ("status", "overhead_ms", "fan_in_ms")}
                log(f"axon rep {number}: {shown}, wall {axon_reps[-1].get('wall_s')} s")
            measured = [rep for rep in axon_reps if "overhead_ms" in rep]
            report["summary"] = summary(measured, bare_reps) if measured else None
            for rep in axon_reps:
                rep.pop("_per_op_ms", None)
            report["axon"], report["bare"] = axon_reps, bare_reps
            report["machine"]["end"] = probes.reading(bench.db_url)
            log(f"machine at end: {report['machine']['end']}; stopping everything")
        except BaseException:
            if bench.axon is not None:
                print(bench.axon.logs(), file=sys.stderr)
            raise
        report["problems"] = bench.problems
        report["valid"] = not bench.problems
    return report


def _interrupt(signum: int, _frame: Any) -> None:
    if signum == signal.SIGALRM:
        raise TimeoutError("the benchmark ran over its time budget")
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.pipeline")
    parser.add_argument("--ops", type=int, default=1000, help="ops in the dag (at least 3)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved reps of each side")
    parser.add_argument("--budget", type=int, default=1800, help="hard limit, seconds")
    parser.add_argument(
        "--rep-timeout",
        type=float,
        help="seconds one dag may take before its rep is invalid "
        f"(default: the budget less {SETUP_S} s and {DRAIN_S} s a rep, shared by the reps)",
    )
    args = parser.parse_args(argv)
    reps = max(args.reps, 1)
    rep_timeout = args.rep_timeout or max(args.budget - SETUP_S - reps * DRAIN_S, 60) / reps
    middle_names(args.ops)  # refuses too few ops before anything starts
    # SIGINT too: a shell starts background jobs with it ignored, and Ctrl-C must still clean up.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(args.budget)
    try:
        report = run(args.ops, args.reps, rep_timeout)
    finally:
        signal.alarm(0)
    OUT.mkdir(parents=True, exist_ok=True)
    document = json.dumps(report, indent=2)
    (OUT / "pipeline.json").write_text(document + "\n")
    print(document)
    log(f"done; written to {(OUT / 'pipeline.json').relative_to(ROOT)}")
    return 0 if report["valid"] else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
