"""What `axon_tracking.log_metrics` costs a training loop: 100,000 calls in a loop doing 1 ms
of work a step, against the same loop without tracking, measured in the same run.

    .venv/bin/python -m tests.benchmarks.tracking_client [--steps 100000] [--blocks 10]

The work is a fixed Python loop calibrated to take 1 ms of CPU (holding the GIL: the worst case
for a background thread). Both CPU time of the whole process (every thread: the sender's JSON
and HTTP included) and wall time are measured; on a shared machine the CPU time is the figure
the 5% is judged on, since other processes' load stretches wall time at random. The steps are
split into blocks, tracked and untracked blocks interleaved, so drifting load falls on both
alike; after a tracked block the client's queue is drained, untimed, so the next untracked
block does not pay for it. Axon is stood in for by a sink in its own process on
loopback that answers 200 and counts the values it was sent (the client's cost does not depend
on what the server does with them). One JSON document goes to stdout; exit status 1 when the
overhead is 5% or more, or a value was lost.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from typing import Any

import axon_tracking

SINK = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
counts = {"requests": 0, "values": 0}
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        counts["requests"] += 1
        counts["values"] += sum(len(r["metrics"]) for r in body) if isinstance(body, list) else 0
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"{}")
    def do_GET(self):
        data = json.dumps(counts).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def work(rounds: int) -> float:
    total = 0.0
    for n in range(rounds):
        total += n * 0.5
    return total


def calibrate(seconds: float) -> int:
    """Rounds of `work` that take `seconds` of CPU: the least of several tries, so that other
    processes' load (which adds, never subtracts) counts as little as possible."""
    rounds = 10_000
    took = min(_cpu(rounds) for _ in range(20))
    rounds = max(1, int(rounds * seconds / took))
    took = min(_cpu(rounds) for _ in range(50))
    return max(1, int(rounds * seconds / took))


def _cpu(rounds: int) -> float:
    started = time.thread_time()
    work(rounds)
    return time.thread_time() - started


def block(
    steps: int, first: int, rounds: int, run: axon_tracking.Run | None, calls: list[int]
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process) of `steps` steps. Untracked, the step
    instead appends the same report to a deque nobody reads: the time of that is the floor
    (this machine's scheduling) to read the client's call times against."""
    kept: collections.deque[Any] = collections.deque(maxlen=1)
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(first, first + steps):
        work(rounds)
        before = time.perf_counter_ns()
        if run is not None:
            run.log_metrics(step=step, loss=1.0 / (step + 1), accuracy=step / 1e5)
        else:
            kept.append({"metrics": {"loss": 1.0 / (step + 1), "accuracy": step / 1e5}})
        calls.append(time.perf_counter_ns() - before)
    return time.perf_counter() - wall, time.process_time() - cpu


def percentile(values: list[int], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1000


def spread(values: list[int]) -> dict[str, float]:
    shares = {"p50": 0.5, "p99": 0.99, "p999": 0.999, "max": 1.0}
    return {name: percentile(values, share) for name, share in shares.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="tracked steps (and untracked)")
    parser.add_argument("--blocks", type=int, default=20, help="blocks of each kind, interleaved")
    args = parser.parse_args()
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        return measure(args.steps, args.blocks, url)
    finally:
        sink.terminate()
        sink.wait(10)


def measure(steps: int, blocks: int, url: str) -> int:
    load_before = os.getloadavg()
    rounds = calibrate(0.001)
    run = axon_tracking.Run("bench", url, "token", system_interval=0)
    per_block = steps // blocks
    untracked, tracked = [0.0, 0.0], [0.0, 0.0]
    calls: list[int] = []
    floor: list[int] = []
    for index in range(blocks):
        for total, done in (
            (untracked, block(per_block, 0, rounds, None, floor)),
            (tracked, block(per_block, index * per_block, rounds, run, calls)),
        ):
            total[0] += done[0]
            total[1] += done[1]
        while run._sender.queue:  # drained, untimed: the next untracked block owes it nothing
            time.sleep(0.01)
    run.end(timeout=60)
    with urllib.request.urlopen(url, timeout=10) as answer:
        received = json.loads(answer.read())
    cpu_overhead = 100.0 * (tracked[1] - untracked[1]) / untracked[1]
    wall_overhead = 100.0 * (tracked[0] - untracked[0]) / untracked[0]
    figures: dict[str, Any] = {
        "steps_tracked": per_block * blocks,
        "steps_untracked": per_block * blocks,
        "work_rounds_per_step": rounds,
        "blocks_each": blocks,
        "untracked": {"wall_s": round(untracked[0], 3), "cpu_s": round(untracked[1], 3)},
        "tracked": {"wall_s": round(tracked[0], 3), "cpu_s": round(tracked[1], 3)},
        "overhead_cpu_percent": round(cpu_overhead, 3),
        "overhead_wall_percent": round(wall_overhead, 3),
        "call_us": spread(calls),
        "untracked_append_us": spread(floor),
        "values_sent": 2 * per_block * blocks,
        "values_received": received["values"],
        "requests": received["requests"],
        "dropped": run.dropped,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    problems = []
    if cpu_overhead >= 5.0:
        problems.append(f"CPU overhead {cpu_overhead:.2f}% is not under 5%")
    if received["values"] != figures["values_sent"] or run.dropped:
        problems.append("values were lost")
    figures["problems"] = problems
    print(json.dumps(figures, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
