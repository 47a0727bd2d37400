"""How well and how fast the searches suggest: simple regret on Branin and Hartmann-6, and the
time of one suggestion at 50, 200 and 1,000 observations.

    .venv/bin/python -m tests.benchmarks.optimize [--seeds 3] [--trials 30] [--concurrency 1 8]
        [--sizes 50 200 1000] [--reps 3] [--only regret|timing]

Regret: each search (random, hyperopt-TPE, bayes with ei) runs `--trials` trials per seed
through `ci.optimize.suggest`, asynchronously at each concurrency c: c trials are kept running
(asked with n = the free slots, the running ones passed as `running`), the oldest finishes, and
so on. The figure is the median over seeds of the final simple regret (best value found minus
the known minimum), with the smallest and largest. Timing: one suggestion (n = 1) after that
many random observations on Hartmann-6, wall and CPU milliseconds, median of `--reps`.
Prints one JSON document; progress on stderr. The machine's load and the BLAS thread setting
are printed beside the figures, as both move the GP's timings: on a busy machine OpenBLAS's own
threads cost the GP several times its single-threaded time, so compare runs with
`OPENBLAS_NUM_THREADS=1` set and unset. A search's suggestions depend only on its seed, so the
regret figures repeat exactly; random search ignores results, so its figures are the same at
every concurrency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from ci.optimize import suggest
from tests.benchmarks.figures import spread

_STARTED = time.monotonic()
Objective = Callable[[dict[str, Any]], float]

HARTMANN_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
HARTMANN_P = (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381),
)


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def branin(p: dict[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(p: dict[str, Any]) -> float:
    x = [p[f"x{i}"] for i in range(6)]
    total = 0.0
    for alpha, a, q in zip(HARTMANN_ALPHA, HARTMANN_A, HARTMANN_P, strict=True):
        inner = sum(a[j] * (x[j] - q[j] * 1e-4) ** 2 for j in range(6))
        total += alpha * math.exp(-inner)
    return -total


PROBLEMS: dict[str, tuple[dict[str, Any], Objective, float]] = {
    "branin": (
        {
            "x1": {"kind": "uniform", "value": [-5, 10]},
            "x2": {"kind": "uniform", "value": [0, 15]},
        },
        branin,
        0.397887,
    ),
    "hartmann6": (
        {f"x{i}": {"kind": "uniform", "value": [0, 1]} for i in range(6)},
        hartmann6,
        -3.32237,
    ),
}
METRIC = {"name": "loss", "optimization": "minimize"}


def matrix(search: str, params: dict[str, Any], trials: int) -> dict[str, Any]:
    if search == "random":
        return {"kind": "random", "params": params, "numRuns": trials}
    if search == "tpe":
        return {"kind": "hyperopt", "algorithm": "tpe", "params": params, "numRuns": trials,
                "metric": METRIC}  # fmt: skip
    initial = 8
    return {
        "kind": "bayes",
        "params": params,
        "numInitialRuns": initial,
        "maxIterations": trials - initial,
        "metric": METRIC,
        "utilityFunction": {"acquisitionFunction": "ei", "eps": 0.0},
    }


def regret(search: str, problem: str, trials: int, concurrency: int, seed: int) -> float:
    params, objective, minimum = PROBLEMS[problem]
    spec = matrix(search, params, trials)
    done: list[dict[str, Any]] = []
    running: list[dict[str, Any]] = []
    while len(done) < trials:
        free = min(concurrency - len(running), trials - len(done) - len(running))
        if free > 0:
            pending = [{"params": p, "value": None, "status": "running"} for p in running]
            running += suggest(spec, done + pending, free, seed)
        if not running:
            break
        finished = running.pop(0)
        done.append({"params": finished, "value": objective(finished), "status": "succeeded"})
    return min(o["value"] for o in done) - minimum


def timing(search: str, size: int, reps: int) -> dict[str, Any]:
    params, objective, _ = PROBLEMS["hartmann6"]
    rng = random.Random(size)
    spec = matrix(search, params, size + 10)
    observations = []
    for _ in range(size):
        point = {name: rng.random() for name in params}
        observations.append({"params": point, "value": objective(point), "status": "succeeded"})
    wall, cpu = [], []
    for rep in range(reps):
        started, used = time.perf_counter(), time.process_time()
        suggest(spec, observations, 1, rep)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return {"wall_ms": spread(wall, 1), "cpu_ms": spread(cpu, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", choices=["regret", "timing"])
    args = parser.parse_args(argv)
    searches = ["random", "tpe", "bayes"]
    result: dict[str, Any] = {
        "setup": {
            "seeds": args.seeds,
            "trials": args.trials,
            "concurrency": args.concurrency,
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        }
    }
    if args.only != "timing":
        found: dict[str, Any] = {}
        for problem in PROBLEMS:
            for concurrency in args.concurrency:
                for search in searches:
                    log(f"regret {problem} c={concurrency} {search}")
                    values = [
                        regret(search, problem, args.trials, concurrency, seed)
                        for seed in range(args.seeds)
                    ]
                    found.setdefault(problem, {}).setdefault(f"c{concurrency}", {})[search] = (
                        spread(values, 4)
                    )
        result["simple_regret"] = found
    if args.only != "regret":
        timed: dict[str, Any] = {}
        for search in searches:
            for size in args.sizes:
                log(f"timing {search} at {size} observations")
                timed.setdefault(search, {})[str(size)] = timing(search, size, args.reps)
        result["suggestion_time"] = timed
    result["seconds"] = round(time.monotonic() - _STARTED, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
