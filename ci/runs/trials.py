"""A search's trials as people read them: each trial's params and its value of the search's
metric, and the search's best trial, for the API, the CLI and the reports.

A trial's params are those its matrix gave it (`meta["params"]`, a grid's `meta["matrix"]`).
The metric is the one the search optimizes (its matrix's `metric`); a trial's value of it is
the last of its series when it reported one with steps (ci.runs.metrics), else its output of
that name, as the search itself reads it. The best trial is the one the search controller
recorded (`meta["best"] = {"uuid", "params", "value", "metric"}`, ci.runs.searches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.runs import metrics
from ci.store.models import Run

# A report's best line shows this many params; the run's page has them all.
PARAMS_SHOWN = 6


@dataclass(frozen=True)
class Best:
    """The best trial of a search so far."""

    uuid: str
    number: int | None  # the trial's iteration: `#7`
    op_name: str
    params: dict[str, Any]
    metric: str
    value: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "trial": self.number,
            "op_name": self.op_name,
            "params": self.params,
            "metric": self.metric,
            "value": self.value,
        }

    def line(self) -> str:
        """`best: trial #7 loss=0.12 (lr=0.01, depth=2)`."""
        which = f"trial #{self.number}" if self.number is not None else f"trial {self.op_name}"
        text = f"best: {which} {self.metric}={_number(self.value)}"
        shown = list(self.params.items())
        if shown:
            given = ", ".join(f"{k}={_number(v)}" for k, v in shown[:PARAMS_SHOWN])
            more = f", … {len(shown) - PARAMS_SHOWN} more" if len(shown) > PARAMS_SHOWN else ""
            text += f" ({given}{more})"
        return text


def metric_of(meta: Mapping[str, Any] | None) -> str | None:
    """The name of the metric a search (a controller's meta) optimizes; None if it has none."""
    meta = meta or {}
    matrix = (meta.get("search") or {}).get("matrix") or {}
    name = (matrix.get("metric") or {}).get("name")
    if not name:
        name = (meta.get("best") or {}).get("metric")
    return str(name) if name else None


def params_of(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The params a trial's matrix gave it; None for a run that is no trial."""
    meta = meta or {}
    found = meta.get("params", meta.get("matrix"))
    return dict(found) if isinstance(found, Mapping) else None


def describe(session: Session, rows: Sequence[Run]) -> dict[int, dict[str, Any]]:
    """For each run of `rows`: `params` (a trial's, else None) and `metric` ({name, value} of
    its search's metric, value None until it has one; None when its parent optimizes none)."""
    parents = {row.parent_id for row in rows if row.parent_id is not None}
    metric_by_parent: dict[int, str | None] = {}
    if parents:
        found = session.execute(select(Run.id, Run.meta).where(Run.id.in_(parents)))
        metric_by_parent = {run_id: metric_of(meta) for run_id, meta in found}
    by_metric: dict[str, list[Run]] = {}
    for row in rows:
        name = metric_by_parent.get(row.parent_id or 0)
        if name:
            by_metric.setdefault(name, []).append(row)
    values: dict[int, float] = {}
    for name, trials in by_metric.items():
        values.update(_values(session, trials, name))
    described: dict[int, dict[str, Any]] = {}
    for row in rows:
        name = metric_by_parent.get(row.parent_id or 0)
        metric = {"name": name, "value": values.get(row.id)} if name else None
        described[row.id] = {"params": params_of(row.meta), "metric": metric}
    return described


def _values(session: Session, rows: Sequence[Run], name: str) -> dict[int, float]:
    found: dict[int, float] = {}
    for row in rows:
        value = (row.outputs or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[row.id] = float(value)
    found.update(metrics.last_values(session, [row.id for row in rows], name))
    return found


def best(session: Session, meta: Mapping[str, Any] | None) -> Best | None:
    """The best trial a search (a controller's meta) recorded; None before one succeeded with
    the metric."""
    recorded = (meta or {}).get("best")
    if not isinstance(recorded, Mapping) or not recorded.get("uuid"):
        return None
    row = session.execute(select(Run.op_name, Run.meta).where(Run.uuid == recorded["uuid"])).first()
    op_name = (row.op_name if row else None) or ""
    iteration = ((row.meta if row else None) or {}).get("iteration")
    return Best(
        uuid=str(recorded["uuid"]),
        number=iteration if isinstance(iteration, int) else None,
        op_name=op_name,
        params=dict(recorded.get("params") or {}),
        metric=str(recorded.get("metric") or "metric"),
        value=float(recorded["value"]),
    )


def _number(value: Any) -> str:
    """`0.12`, `1e-05`, `adam`: a value short enough for one line."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
