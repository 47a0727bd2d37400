"""A run's metric series: the values its job reports with a step, kept one row per report.

A report is `{"metrics": {"loss": 0.3}, "step": 10}`. A step is kept once per metric: a re-sent
report for a step replaces its value, so a job that retries a report after a dropped answer
records it once. A report without a step is a new row each time and counts after every stepped
one, in the order it arrived. A run keeps at most `MAX_REPORTS` rows. The latest value of each
metric is mirrored into the run's outputs, where joins, run queries (`metrics.loss:<0.3`) and
refs (`ops.train.outputs.loss`) read it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ci.store.db import utcnow
from ci.store.models import Run, RunMetric

MAX_REPORTS = 10_000  # metric values one run keeps, all metrics together
MAX_PER_REQUEST = 1_000  # values one request may carry
MAX_NAME = 128
MAX_STEP = 2**31 - 1


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
    unknown = sorted(set(entry) - {"metrics", "step"})
    if unknown:
        raise MetricsError(f"{where}{unknown[0]}: unknown field; expected 'metrics' and 'step'")
    values, step = entry.get("metrics"), entry.get("step")
    if not isinstance(values, dict) or not values:
        raise MetricsError(f"{where}metrics: expected a non-empty object of name to number")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP
    ):
        raise MetricsError(
            f"{where}step: expected a whole number from 0 to {MAX_STEP}, not {step!r}"
        )
    reports = []
    for name, value in values.items():
        if not name or len(name) > MAX_NAME:
            raise MetricsError(f"{where}metrics: a name has 1 to {MAX_NAME} characters")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MetricsError(f"{where}metrics.{name}: expected a number, not {value!r}")
        if not math.isfinite(value):
            raise MetricsError(f"{where}metrics.{name}: expected a finite number, not {value!r}")
        reports.append(Report(name, step, float(value)))
    return reports


def record(session: Session, run: Run, reports: Iterable[Report]) -> dict[str, float]:
    """Keep the reports of `run` (whose row the caller holds FOR UPDATE, so no other report for
    it is counted meanwhile); returns the latest value of each metric they touched.
    MetricsError(413) if the run would keep more than MAX_REPORTS values."""
    by_key: dict[tuple[str, int], Report] = {}
    stepless: list[Report] = []
    for report in reports:
        if report.step is None:
            stepless.append(report)
        else:
            by_key[(report.name, report.step)] = report  # the last of a request's repeats wins
    existing = _existing(session, run.id, by_key)
    new = len(stepless) + sum(1 for key in by_key if key not in existing)
    kept = session.scalar(select(func.count()).where(RunMetric.run_id == run.id)) or 0
    if kept + new > MAX_REPORTS:
        raise MetricsError(
            f"a run keeps at most {MAX_REPORTS} metric values; run {run.uuid} has {kept} "
            f"and this report adds {new}",
            413,
        )
    for key, report in by_key.items():
        row = existing.get(key)
        if row is not None:
            row.value, row.at = report.value, utcnow()
    added = [*stepless, *(report for key, report in by_key.items() if key not in existing)]
    session.add_all(
        RunMetric(run_id=run.id, name=r.name, step=r.step, value=r.value) for r in added
    )
    session.flush()
    names = {report.name for report in [*stepless, *by_key.values()]}
    return {name: last_values(session, [run.id], name)[run.id] for name in sorted(names)}


def _existing(
    session: Session, run_id: int, keys: dict[tuple[str, int], Report]
) -> dict[tuple[str, int], RunMetric]:
    if not keys:
        return {}
    names = {name for name, _ in keys}
    steps = {step for _, step in keys}
    rows = session.scalars(
        select(RunMetric).where(
            RunMetric.run_id == run_id, RunMetric.name.in_(names), RunMetric.step.in_(steps)
        )
    )
    return {(row.name, row.step or 0): row for row in rows if (row.name, row.step) in keys}


def series(
    session: Session, run_ids: Iterable[int], name: str
) -> dict[int, list[tuple[int, float]]]:
    """Each run's reports of `name` as (step, value), in step order; a report without a step
    is given the step after the one before it. Runs that reported none are left out."""
    ids = list(run_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(RunMetric.run_id, RunMetric.step, RunMetric.value)
        .where(RunMetric.run_id.in_(ids), RunMetric.name == name)
        .order_by(RunMetric.run_id, RunMetric.step.is_(None), RunMetric.step, RunMetric.id)
    )
    found: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for run_id, step, value in rows:
        reports = found[run_id]
        if step is None:  # counted after the one before it
            step = reports[-1][0] + 1 if reports else 0
        reports.append((step, value))
    return dict(found)


def last_values(session: Session, run_ids: Iterable[int], name: str) -> dict[int, float]:
    """Each run's latest value of `name` (the last of its series); runs without one left out.
    One row per run is read, however long the series."""
    ids = list(run_ids)
    if not ids:
        return {}
    # The last of `series`' order: a report without a step (the latest to arrive), else the
    # highest step.
    rank = (
        func.row_number()
        .over(
            partition_by=RunMetric.run_id,
            order_by=(RunMetric.step.is_(None).desc(), RunMetric.step.desc(), RunMetric.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(RunMetric.run_id, RunMetric.value, rank)
        .where(RunMetric.run_id.in_(ids), RunMetric.name == name)
        .subquery()
    )
    rows = session.execute(select(ranked.c.run_id, ranked.c.value).where(ranked.c.rank == 1))
    return {run_id: value for run_id, value in rows}


def best_values(
    session: Session, run_ids: Iterable[int], name: str, maximize: bool
) -> dict[int, float]:
    """Each run's best value of `name` over its whole series; runs without one left out."""
    pick = max if maximize else min
    found = series(session, run_ids, name)
    return {run_id: pick(value for _, value in reports) for run_id, reports in found.items()}
