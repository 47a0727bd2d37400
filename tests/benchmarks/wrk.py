"""Running wrk with push.lua, and reading the report it prints."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).with_name("push.lua")
# wrk prints times with these units (src/units.c).
_MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"


class WrkMissing(SystemExit):
    def __init__(self) -> None:
        super().__init__("wrk is not installed; the ingest benchmark needs it: apt-get install wrk")


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run reported."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0  # wrk counts statuses above 399 here, despite the line's wording
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": self.seconds,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "non_2xx": self.non_2xx,
            "socket_errors": dict(self.socket_errors),
        }


def time_ms(text: str) -> float:
    """`812.00us`, `3.21ms`, `1.05s` (as wrk prints times) in milliseconds."""
    match = re.fullmatch(_TIME, text.strip())
    if not match:
        raise ValueError(f"not a wrk time: {text!r}")
    return float(match[1]) * _MS_PER_UNIT[match[2]]


def _find(pattern: str, output: str, what: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if not match:
        raise ValueError(f"wrk output has no {what} line (run with --latency?):\n{output}")
    return match


def parse(output: str) -> WrkResult:
    """The figures of wrk's text report; ValueError names a missing line."""
    total = _find(rf"^\s*(\d+) requests in {_TIME}", output, "'N requests in T'")
    rps = _find(r"^Requests/sec:\s+([0-9.]+)", output, "'Requests/sec'")
    p50 = _find(rf"^\s*50(?:\.0+)?%\s+{_TIME}\s*$", output, "50% latency")
    p99 = _find(rf"^\s*99(?:\.0+)?%\s+{_TIME}\s*$", output, "99% latency")
    non_2xx = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", output, re.MULTILINE)
    sockets = re.search(
        r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
        output,
        re.MULTILINE,
    )
    socket_errors = {}
    if sockets:
        kinds = ("connect", "read", "write", "timeout")
        socket_errors = {k: int(v) for k, v in zip(kinds, sockets.groups(), strict=True)}
    return WrkResult(
        requests=int(total[1]),
        seconds=round(time_ms(total[2] + total[3]) / 1000, 3),
        rps=float(rps[1]),
        p50_ms=time_ms(p50[1] + p50[2]),
        p99_ms=time_ms(p99[1] + p99[2]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=socket_errors,
    )


def executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing()
    return found


@dataclass(frozen=True)
class Load:
    """A closed-loop wrk load of signed pushes."""

    body_file: Path
    signature: str
    threads: int = 2
    connections: int = 32

    def command(self, url: str, seconds: float) -> list[str]:
        nonce = uuid.uuid4().hex[:12]
        return [
            executable(),
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(LUA),
            url,
            "--",
            str(self.body_file),
            self.signature,
            nonce,
        ]

    def run(self, url: str, seconds: float) -> WrkResult:
        # run() kills wrk if this process is interrupted or wrk overruns.
        done = subprocess.run(
            self.command(url, seconds),
            capture_output=True,
            text=True,
            timeout=seconds + 20,
            check=True,
        )
        return parse(done.stdout)
