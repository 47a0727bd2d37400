"""The ingest benchmark's settings: the defaults are the published run's; `--help` lists them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

# The benchmark's parts, in the order they run; `--parts` picks some of them.
PARTS = ("ingest", "first_enqueue", "paced", "event_to_submitted")


@dataclass(frozen=True)
class Config:
    reps: int = 3
    warmup_s: float = 3
    duration_s: float = 5
    wrk_threads: int = 2
    wrk_connections: int = 32
    paced_rate: float = 200
    paced_s: float = 5
    paced_reps: int = 3
    events: int = 60
    event_rate: float = 4
    budget_s: int = 420  # the whole run is stopped (and cleaned up) after this
    parts: tuple[str, ...] = PARTS


def arguments(argv: list[str] | None = None) -> Config:
    """The run's settings: the defaults are the published benchmark's."""
    default = Config()
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.ingest",
        description="Axon's webhook intake against bare, insert and insert_publish baselines "
        "(interleaved), paced latency, and event → run submitted. See tests/benchmarks/README.md.",
    )
    parser.add_argument("--reps", type=int, default=default.reps, help="wrk reps per server")
    parser.add_argument("--duration", type=float, default=default.duration_s, help="seconds")
    parser.add_argument("--warmup", type=float, default=default.warmup_s, help="seconds")
    parser.add_argument("--connections", type=int, default=default.wrk_connections)
    parser.add_argument("--paced-reps", type=int, default=default.paced_reps)
    parser.add_argument("--events", type=int, default=default.events, help="timed pushes")
    parser.add_argument("--event-rate", type=float, default=default.event_rate, help="per s")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated, of {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--budget", type=int, default=default.budget_s, help="hard limit, s")
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts: unknown {unknown}; known: {', '.join(PARTS)}")
    return Config(
        reps=args.reps,
        warmup_s=args.warmup,
        duration_s=args.duration,
        wrk_connections=args.connections,
        paced_reps=args.paced_reps,
        events=args.events,
        event_rate=args.event_rate,
        budget_s=args.budget,
        parts=parts,
    )
