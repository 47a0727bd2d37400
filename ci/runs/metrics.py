"""A run's metric series: the values its job reports at steps, packed by ci.runs.series.

A report is `{"metrics": {"loss": 0.3}, "step": 10, "time": 1764900000.5}` (time optional: when
the job took it, seconds since the epoch; else when it arrived). A step is kept once per
metric: a re-sent report for it replaces its value, so a job that retries a report after a
dropped answer records it once. A report without a step goes after the highest step its metric
has. NaN and infinities are accepted (as JSON's `NaN`/`Infinity` words or as the strings
"NaN", "Infinity", "-Infinity") and kept; answers spell them as those strings, which every JSON
parser reads. A run keeps at most `MAX_REPORTS` points of each kind. The latest value of each
metric is mirrored into the run's outputs, where joins, run queries (`metrics.loss:<0.3`) and
refs (`ops.train.outputs.loss`) read it.

The same machinery keeps system metrics (kind "system": CPU, memory, GPU samples), which are
not mirrored into the outputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from ci.runs import downsample
from ci.runs import series as packed
from ci.store.models import Run

MAX_REPORTS = 1_000_000  # points one run keeps of each kind, all names together
MAX_PER_REQUEST = 1_000  # values one request may carry
MAX_NAME = 128
MAX_STEP = 2**31 - 1
MOST_POINTS = 10_000  # the most points one chart answer carries
KINDS = ("metric", "system")
SPELLED = {"nan": math.nan, "infinity": math.inf, "inf": math.inf}


class MetricsError(ValueError):
    """A report Axon refuses; `status` is the HTTP status that says why (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Report:
    name: str
    step: int | None
    value: float
    at: float | None = None  # when the job took it, seconds since the epoch


def parse(body: Any) -> list[Report]:
    """The reports in a request body: one `{"metrics": {...}, "step": n}` or a list of them.
    MetricsError names the field and the reason."""
    entries = body if isinstance(body, list) else [body]
    if not entries:
        raise MetricsError("metrics: expected a report, not an empty list")
    found: list[Report] = []
    for index, entry in enumerate(entries):
        where = f"[{index}]." if isinstance(body, list) else ""
        found.extend(_parse_one(entry, where))
        if len(found) > MAX_PER_REQUEST:
            raise MetricsError(f"a request carries at most {MAX_PER_REQUEST} metric values", 413)
    return found


def _parse_one(entry: Any, where: str) -> list[Report]:
    if not isinstance(entry, dict):
        raise MetricsError(f"{where or 'body'}: expected an object with 'metrics' and 'step'")
    unknown = sorted(set(entry) - {"metrics", "step", "time"})
    if unknown:
        raise MetricsError(
            f"{where}{unknown[0]}: unknown field; expected 'metrics', 'step' and 'time'"
        )
    values, step, at = entry.get("metrics"), entry.get("step"), entry.get("time")
    if not isinstance(values, dict) or not values:
        raise MetricsError(f"{where}metrics: expected a non-empty object of name to number")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP
    ):
        raise MetricsError(
            f"{where}step: expected a whole number from 0 to {MAX_STEP}, not {step!r}"
        )
    if at is not None and (
        isinstance(at, bool) or not isinstance(at, int | float) or not 0 < at < 2**33
    ):
        raise MetricsError(f"{where}time: expected seconds since the epoch, not {at!r}")
    reports = []
    for name, value in values.items():
        if not name or len(name) > MAX_NAME:
            raise MetricsError(f"{where}metrics: a name has 1 to {MAX_NAME} characters")
        reports.append(Report(name, step, number(value, f"{where}metrics.{name}"), at))
    return reports


def number(value: Any, where: str) -> float:
    """A reported value as a float: a number, or NaN and the infinities spelled as text."""
    if isinstance(value, str) and value.strip().lower().lstrip("+-") in SPELLED:
        spelled = value.strip().lower()
        found = SPELLED[spelled.lstrip("+-")]
        return -found if spelled.startswith("-") else found
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricsError(f"{where}: expected a number, not {value!r}")
    try:
        return float(value)
    except OverflowError:  # an integer wider than a float: JSON allows it
        raise MetricsError(f"{where}: {value} is too large for a float") from None


def jsonable(value: float) -> float | str:
    """A value as JSON can carry it: NaN and the infinities as "NaN", "Infinity", "-Infinity"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def record(
    session: Session, run: Run, reports: Iterable[Report], kind: str = "metric"
) -> dict[str, float]:
    """Keep the reports of `run` (whose row the caller holds FOR UPDATE, so no other report for
    it is counted meanwhile); returns the latest value of each metric they touched.
    MetricsError(413) if the run would keep more than MAX_REPORTS points of the kind."""
    writer = packed.Writer(session, run.id, kind)
    now = time.time()
    names: list[str] = []
    for report in reports:
        step = writer.next_step(report.name) if report.step is None else report.step
        writer.put(report.name, step, now if report.at is None else report.at, report.value)
        if report.name not in names:
            names.append(report.name)
    if writer.added:
        kept = packed.kept(session, run.id, kind)
        if kept + writer.added > MAX_REPORTS:
            what = "metric values" if kind == "metric" else f"{kind} samples"
            raise MetricsError(
                f"a run keeps at most {MAX_REPORTS} {what}; run {run.uuid} has {kept} "
                f"and this report adds {writer.added}",
                413,
            )
    writer.write()
    found = {name: writer.latest(name) for name in sorted(names)}
    return {name: value for name, value in found.items() if value is not None}


def series(
    session: Session, run_ids: Iterable[int], name: str
) -> dict[int, list[tuple[int, float]]]:
    """Each run's points of metric `name` as (step, value), in step order. Runs that reported
    none are left out."""
    found = packed.read(session, run_ids, "metric", name)
    return {
        run_id: list(zip(points["step"].tolist(), points["value"].tolist(), strict=True))
        for run_id, points in found.items()
    }


def last_values(session: Session, run_ids: Iterable[int], name: str) -> dict[int, float]:
    """Each run's latest value of `name` (the value at its highest step); runs without one left
    out. One chunk per run is read, however long the series."""
    found = packed.last_points(session, run_ids, "metric", name)
    return {run_id: value for (run_id, _), (_, _, value, _) in found.items()}


def best_values(
    session: Session, run_ids: Iterable[int], name: str, maximize: bool
) -> dict[int, float]:
    """Each run's best value of `name` over its whole series, NaN left out; runs without a
    number left out."""
    found: dict[int, float] = {}
    for run_id, points in packed.read(session, run_ids, "metric", name).items():
        values = points["value"][~np.isnan(points["value"])]
        if len(values):
            found[run_id] = float(values.max() if maximize else values.min())
    return found


def summary(session: Session, run_id: int, kind: str) -> dict[str, dict[str, Any]]:
    """Each series of the run: how many points, and the last (step, time, value)."""
    found = packed.last_points(session, [run_id], kind)
    return {
        name: {"count": count, "step": step, "time": at, "value": jsonable(value)}
        for (_, name), (step, at, value, count) in found.items()
    }


def chart(session: Session, run_id: int, kind: str, name: str, most: int) -> dict[str, Any]:
    """A series cut to at most `most` points for a chart (ci.runs.downsample), as JSON."""
    points = packed.read(session, [run_id], kind, name).get(run_id)
    if points is None:
        return {"name": name, "count": 0, "steps": [], "times": [], "values": []}
    keep = downsample.min_max(points["value"], most)
    kept = points[keep]
    return {
        "name": name,
        "count": len(points),
        "steps": kept["step"].tolist(),
        "times": kept["time"].tolist(),
        "values": [jsonable(v) for v in kept["value"].tolist()],
    }
