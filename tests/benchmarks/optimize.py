"""How well and how fast the searches suggest, beside Optuna and the libraries driven plainly:
median final simple regret on Branin and Hartmann-6, and the time of one suggestion at 50, 200
and 1,000 observations.

    .venv/bin/python -m tests.benchmarks.optimize            # the full run: 10 seeds, 60 trials
    .venv/bin/python -m tests.benchmarks.optimize --quick    # 3 seeds, 3 timing reps
        [--seeds N] [--trials N] [--concurrency 1 8] [--sizes 50 200 1000] [--reps N]
        [--only regret|timing] [--searches ...] [--problems benchmark|tuning] [--jobs N]
        [--out FILE]

Problems (tests/benchmarks/objectives.py): `benchmark` (Branin, Hartmann-6), the figures to
report; `tuning` (Rosenbrock, Ackley, Levy, six-hump camel, Hartmann-3, Styblinski-Tang), the
set Axon's settings are chosen on, so that the reported figures are on objectives the searches
were not fitted to.

Searches (each asked for the same uniform params):
- axon-random, axon-tpe (`kind: hyperopt`, `algorithm: tpe`: on these params a joint Parzen
  density, ci.optimize.joint) and axon-default (`kind: bayes` with no utilityFunction: Axon's
  default search, an ARD Matérn 5/2 GP with expected improvement on warped targets), all through
  `ci.optimize.suggest` with the history rebuilt from the observations on every call; bayes
  with numInitialRuns 10.
- optuna-tpe: Optuna's TPESampler(seed) with its defaults (multivariate, constant liar), driven
  by ask and tell.
- optuna-gp-ei: Optuna's GPSampler(seed, 10 start-up trials), an independent GP-EI (its own
  kernel fitting and acquisition, on torch), driven the same way.
- plain-hyperopt: hyperopt's tpe.suggest on one Trials object kept for the whole search, one
  new trial id at a time with a seed drawn from the search's generator, as fmin does.
- plain-random: uniform draws from a seeded generator.

Regret: each search runs `--trials` trials per seed asynchronously at each concurrency c: c
trials are kept running (each search told of the running ones as it would be), the oldest
finishes, its result is told, the free slot is asked for again. The figure is the median over
seeds of the final simple regret (best value found minus the known minimum), with the smallest
and largest. The runs are spread over `--jobs` processes (each with one torch thread); every
search is seeded, so the figures do not depend on how they are spread.

Timing: one suggestion (n = 1) after that many random observations on Hartmann-6, wall and CPU
milliseconds, median of `--reps`, the searches interleaved rep by rep, before the regret runs.
For optuna-tpe the study is rebuilt from the observations each call too (an in-memory study and
add_trials), so it pays what Axon pays. The load average is printed beside the figures: on a
busy machine the wall time moves, the CPU time much less.

Prints one JSON document (and writes it to `--out` if given); progress on stderr. `targets`
compares medians cell by cell, as the issue states them.
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
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import hyperopt
import numpy as np
import optuna
import torch

from ci.optimize import suggest
from tests.benchmarks.figures import spread
from tests.benchmarks.objectives import BENCHMARK, TUNING, Bounds, Params, Problem

_STARTED = time.monotonic()
INITIAL_RUNS = 10
METRIC = {"name": "loss", "optimization": "minimize"}
# --problems: the reported set, or the one the searches' settings are chosen on.
SETS = {"benchmark": BENCHMARK, "tuning": TUNING}
PROBLEMS: dict[str, Problem] = {**BENCHMARK, **TUNING}


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Search(Protocol):
    def ask(self, n: int) -> list[Params]: ...
    def tell(self, params: Params, value: float) -> None: ...


def matrix(kind: str, bounds: Bounds, trials: int) -> dict[str, Any]:
    """The polyaxonfile matrix of one of Axon's searches."""
    params = {name: {"kind": "uniform", "value": list(b)} for name, b in bounds.items()}
    if kind == "random":
        return {"kind": "random", "params": params, "numRuns": trials}
    if kind == "tpe":
        return {"kind": "hyperopt", "algorithm": "tpe", "params": params, "numRuns": trials,
                "metric": METRIC}  # fmt: skip
    bayes: dict[str, Any] = {
        "kind": "bayes",
        "params": params,
        "numInitialRuns": INITIAL_RUNS,
        "maxIterations": max(trials - INITIAL_RUNS, 1),
        "metric": METRIC,
    }
    if kind == "gp-ei":
        bayes["utilityFunction"] = {"acquisitionFunction": "ei", "eps": 0.0}
    return bayes


class Axon:
    """One of Axon's searches: the whole history handed to `suggest` on every call."""

    def __init__(self, kind: str, bounds: Bounds, trials: int, seed: int) -> None:
        self.spec, self.seed = matrix(kind, bounds, trials), seed
        self.done: list[dict[str, Any]] = []
        self.running: list[Params] = []

    def ask(self, n: int) -> list[Params]:
        pending = [{"params": p, "value": None, "status": "running"} for p in self.running]
        found = suggest(self.spec, self.done + pending, n, self.seed)
        self.running += found
        return found

    def tell(self, params: Params, value: float) -> None:
        self.running.remove(params)
        self.done.append({"params": params, "value": value, "status": "succeeded"})


class Optuna:
    """One of Optuna's samplers, driven by ask and tell."""

    def __init__(self, bounds: Bounds, sampler: optuna.samplers.BaseSampler) -> None:
        self.study = optuna.create_study(sampler=sampler)
        self.bounds = bounds
        self.asked: list[tuple[Params, optuna.trial.Trial]] = []

    def ask(self, n: int) -> list[Params]:
        found = []
        for _ in range(n):
            trial = self.study.ask()
            params = {name: trial.suggest_float(name, *b) for name, b in self.bounds.items()}
            self.asked.append((params, trial))
            found.append(params)
        return found

    def tell(self, params: Params, value: float) -> None:
        index = next(i for i, (p, _) in enumerate(self.asked) if p is params)
        _, trial = self.asked.pop(index)
        self.study.tell(trial, value)


class PlainHyperopt:
    def __init__(self, bounds: Bounds, seed: int) -> None:
        space = {name: hyperopt.hp.uniform(name, *b) for name, b in bounds.items()}
        self.domain = hyperopt.Domain(None, space)
        self.trials = hyperopt.Trials()
        self.rng = np.random.default_rng(seed)
        self.docs: list[tuple[Params, dict[str, Any]]] = []

    def ask(self, n: int) -> list[Params]:
        found = []
        for _ in range(n):
            ids = self.trials.new_trial_ids(1)
            seed = int(self.rng.integers(2**31 - 1))
            docs = hyperopt.tpe.suggest(ids, self.domain, self.trials, seed)
            docs[0]["state"] = hyperopt.JOB_STATE_RUNNING
            self.trials.insert_trial_docs(docs)
            self.trials.refresh()
            doc = self.trials.trials[-1]
            params = {name: float(v[0]) for name, v in doc["misc"]["vals"].items()}
            self.docs.append((params, doc))
            found.append(params)
        return found

    def tell(self, params: Params, value: float) -> None:
        index = next(i for i, (p, _) in enumerate(self.docs) if p is params)
        _, doc = self.docs.pop(index)
        doc["result"] = {"status": hyperopt.STATUS_OK, "loss": value}
        doc["state"] = hyperopt.JOB_STATE_DONE
        self.trials.refresh()


class PlainRandom:
    def __init__(self, bounds: Bounds, seed: int) -> None:
        self.bounds, self.rng = bounds, random.Random(seed)

    def ask(self, n: int) -> list[Params]:
        return [{k: self.rng.uniform(*b) for k, b in self.bounds.items()} for _ in range(n)]

    def tell(self, params: Params, value: float) -> None:
        pass


SEARCHES: dict[str, Callable[[Bounds, int, int], Search]] = {
    "axon-random": lambda b, t, s: Axon("random", b, t, s),
    "axon-tpe": lambda b, t, s: Axon("tpe", b, t, s),
    "axon-default": lambda b, t, s: Axon("default", b, t, s),
    "optuna-tpe": lambda b, t, s: Optuna(b, optuna.samplers.TPESampler(seed=s)),
    "optuna-gp-ei": lambda b, t, s: Optuna(
        b, optuna.samplers.GPSampler(seed=s, n_startup_trials=INITIAL_RUNS)
    ),
    "plain-hyperopt": lambda b, t, s: PlainHyperopt(b, s),
    "plain-random": lambda b, t, s: PlainRandom(b, s),
}


def regret(search: str, problem: str, trials: int, concurrency: int, seed: int) -> float:
    bounds, objective, minimum = PROBLEMS[problem]
    driven = SEARCHES[search](bounds, trials, seed)
    running: list[Params] = []
    best, finished = math.inf, 0
    while finished < trials:
        free = min(concurrency - len(running), trials - finished - len(running))
        if free > 0:
            running += driven.ask(free)
        if not running:
            break
        params = running.pop(0)
        value = objective(params)
        driven.tell(params, value)
        best, finished = min(best, value), finished + 1
    return best - minimum


def regret_of(cell: tuple[str, str, int, int, int]) -> float:
    search, problem, trials, c, seed = cell
    found = regret(search, problem, trials, c, seed)
    log(f"regret seed {seed} {problem} c={c} {search}: {found:.4g}")
    return found


def one_thread() -> None:
    """Optuna's GP runs on torch, which would otherwise take a thread per core: one thread, as
    Axon's suggestions run with one BLAS thread."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def observations(size: int) -> list[dict[str, Any]]:
    bounds, objective, _ = PROBLEMS["hartmann6"]
    rng = random.Random(size)
    found = []
    for _ in range(size):
        point = {name: rng.uniform(*b) for name, b in bounds.items()}
        found.append({"params": point, "value": objective(point), "status": "succeeded"})
    return found


def timed_axon(kind: str) -> Callable[[list[dict[str, Any]], int], object]:
    bounds = PROBLEMS["hartmann6"][0]
    return lambda history, rep: suggest(matrix(kind, bounds, len(history) + 10), history, 1, rep)


def timed_optuna(history: list[dict[str, Any]], rep: int) -> object:
    bounds = PROBLEMS["hartmann6"][0]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=rep))
    floats: dict[str, optuna.distributions.BaseDistribution] = {
        name: optuna.distributions.FloatDistribution(*b) for name, b in bounds.items()
    }
    study.add_trials(
        [
            optuna.trial.create_trial(params=o["params"], distributions=floats, value=o["value"])
            for o in history
        ]
    )
    trial = study.ask()
    return {name: trial.suggest_float(name, *b) for name, b in bounds.items()}


TIMED: dict[str, Callable[[list[dict[str, Any]], int], object]] = {
    "axon-random": timed_axon("random"),
    "axon-tpe": timed_axon("tpe"),
    "axon-default": timed_axon("default"),
    "optuna-tpe": timed_optuna,
}


def timing(sizes: list[int], reps: int) -> dict[str, Any]:
    histories = {size: observations(size) for size in sizes}
    wall: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    for rep in range(reps):
        log(f"timing rep {rep + 1}/{reps}")
        for size in sizes:
            for name, call in TIMED.items():
                started, used = time.perf_counter(), time.process_time()
                call(histories[size], rep)
                wall.setdefault((name, size), []).append((time.perf_counter() - started) * 1000)
                cpu.setdefault((name, size), []).append((time.process_time() - used) * 1000)
    return {
        name: {
            str(size): {
                "wall_ms": spread(wall[name, size], 1),
                "cpu_ms": spread(cpu[name, size], 1),
            }
            for size in sizes
        }
        for name in TIMED
    }


def targets(found: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, cell by cell, on the medians."""
    cells: dict[str, dict[str, bool]] = {}
    for problem, by_concurrency in found.items():
        for concurrency, median in by_concurrency.items():
            m = {search: figures["median"] for search, figures in median.items()}
            cells[f"{problem} {concurrency}"] = {
                "tpe_no_worse_than_optuna": m["axon-tpe"] <= m["optuna-tpe"],
                "tpe_no_worse_than_plain_hyperopt": m["axon-tpe"] <= m["plain-hyperopt"],
                "default_no_worse_than_best_of_optuna_tpe_and_gp_ei": m["axon-default"]
                <= min(m["optuna-tpe"], m["optuna-gp-ei"]),
            }
    names = next(iter(cells.values())).keys() if cells else []
    return {
        "cells": cells,
        "held_in": {name: sum(cell[name] for cell in cells.values()) for name in names},
        "of": len(cells),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds and 3 timing reps")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--reps", type=int)
    parser.add_argument("--only", choices=["regret", "timing"])
    parser.add_argument("--searches", nargs="+", choices=list(SEARCHES), default=list(SEARCHES))
    parser.add_argument("--problems", choices=list(SETS), default="benchmark")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the regret runs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 10)
    reps = args.reps or (3 if args.quick else 5)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result: dict[str, Any] = {
        "setup": {
            "problems": args.problems,
            "seeds": seeds,
            "trials": args.trials,
            "concurrency": args.concurrency,
            "reps": reps,
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "optuna": optuna.__version__,
            "torch": torch.__version__,
            "jobs": args.jobs,
            "hyperopt": hyperopt.__version__,
        }
    }
    if args.only != "regret":
        # First, in a process that has run nothing else yet.
        result["suggestion_time"] = timing(args.sizes, reps)
    if args.only != "timing":
        cells = [
            (search, problem, args.trials, c, seed)
            for seed in range(seeds)
            for problem in SETS[args.problems]
            for c in args.concurrency
            for search in args.searches
        ]
        values: dict[tuple[str, str, str], list[float]] = {}
        # Every search is seeded, so a cell's regret is the same whichever process runs it.
        with ProcessPoolExecutor(args.jobs, initializer=one_thread) as pool:
            for (search, problem, _, c, _), found in zip(
                cells, pool.map(regret_of, cells), strict=True
            ):
                values.setdefault((problem, f"c{c}", search), []).append(found)
        table: dict[str, Any] = {}
        for (problem, c, search), regrets in values.items():
            table.setdefault(problem, {}).setdefault(c, {})[search] = spread(regrets, 8)
        result["simple_regret"] = table
        if set(args.searches) == set(SEARCHES):
            result["targets"] = targets(table)
    result["setup"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["seconds"] = round(time.monotonic() - _STARTED, 1)
    document = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(document + "\n")
    print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
