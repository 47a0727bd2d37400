"""Runs side by side: `/compare?runs=<uuid>,<uuid>,...` shows their params, outputs and tags in
one column per run (a row whose values differ is marked), and one chart per metric with each
run's series overlaid, read from `/compare/metrics.json` beside the page.

The rows are those `axon ops compare` prints (status, `param.*`, `output.*`, tags), built here
from the rows rather than from the API's answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from ci import runtime
from ci.identity import enforce
from ci.runs import downsample, metrics, tracking
from ci.runs import series as packed
from ci.store.models import Run

blueprint = Blueprint("compare", __name__)

# A compare's uuids travel in its URL; proxies commonly cut URLs at 8 KB (~240 uuids).
MOST_RUNS = 200
# The points of one chart, all runs together: a chart of many runs gets fewer per run.
CHART_POINTS = 20_000
LEAST_PER_RUN = 50
HEAVY = (defer(Run.spec), defer(Run.compiled), defer(Run.logs), defer(Run.event))


class CompareError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Row:
    """One line of the table: a label and each run's value (None where a run has none)."""

    group: str
    name: str
    values: list[Any]

    @property
    def differs(self) -> bool:
        return len({_key(value) for value in self.values}) > 1


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def wanted_uuids(given: str | None) -> list[str]:
    """The uuids of `?runs=`, in the order given, once each; CompareError names the problem."""
    uuids = list(dict.fromkeys(part.strip() for part in (given or "").split(",") if part.strip()))
    if not uuids:
        raise CompareError(400, "runs: give the uuids of the runs to compare, separated by commas")
    if len(uuids) > MOST_RUNS:
        raise CompareError(400, f"runs: at most {MOST_RUNS} runs at once, not {len(uuids)}")
    return uuids


def load_runs(session: Session, uuids: list[str]) -> list[Run]:
    """The runs in the order asked; CompareError(404) names each uuid no run has."""
    found = {
        run.uuid: run
        # A run the caller may not read is as missing as one that does not exist.
        for run in session.scalars(
            enforce.only_readable(
                session, select(Run).where(Run.uuid.in_(uuids)), Run.project_id
            ).options(*HEAVY)
        )
    }
    missing = [uuid for uuid in uuids if uuid not in found]
    if missing:
        named = ", ".join(repr(uuid) for uuid in missing)
        raise CompareError(404, f"no run {named}" if len(missing) == 1 else f"no runs {named}")
    return [found[uuid] for uuid in uuids]


def side_by_side(session: Session, runs: list[Run]) -> list[Row]:
    """Status and kind, then every param and output any of the runs has, then tags."""
    rows = [
        Row("run", "status", [str(run.status) for run in runs]),
        Row("run", "kind", [run.kind for run in runs]),
        Row("run", "project", [run.project.name for run in runs]),
    ]
    for group, field in (("param", "inputs"), ("output", "outputs")):
        columns = [getattr(run, field) or {} for run in runs]
        names = sorted({name for column in columns for name in column})
        rows += [Row(group, name, [column.get(name) for column in columns]) for name in names]
    tags = [", ".join(tracking.notes(session, run)["tags"]) or None for run in runs]
    rows.append(Row("run", "tags", tags))
    return rows


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@blueprint.get("/compare")
def page() -> Any:
    # `runs=a,b` as a link writes it, or `runs=a&runs=b` as the runs list's checkboxes send it.
    given = ",".join(request.args.getlist("runs"))
    with runtime.get().db.session() as session:
        try:
            uuids = wanted_uuids(given)
            runs = load_runs(session, uuids)
        except CompareError as exc:
            return render_template("compare.html", error=exc.message, runs=[]), exc.status
        rows = side_by_side(session, runs)
        return render_template(
            "compare.html", error=None, runs=runs, rows=rows, cell=cell, joined=",".join(uuids)
        )


@blueprint.get("/compare/metrics.json")
def metrics_json() -> Any:
    """For each metric any run reported: each run's series (steps, values), cut so that one
    chart carries at most CHART_POINTS points."""
    with runtime.get().db.session() as session:
        try:
            runs = load_runs(session, wanted_uuids(request.args.get("runs")))
        except CompareError as exc:
            return jsonify({"error": {"code": exc.status, "message": exc.message}}), exc.status
        by_id = {run.id: run for run in runs}
        names = sorted({name for _, name in packed.last_points(session, by_id, "metric")})
        most = max(LEAST_PER_RUN, CHART_POINTS // len(runs))
        charts = []
        for name in names:
            found = packed.read(session, by_id, "metric", name)
            series = []
            for run in runs:
                points = found.get(run.id)
                if points is None:
                    continue
                kept = points[downsample.min_max(points["value"], most)]
                values = [metrics.jsonable(v) for v in kept["value"].tolist()]
                series.append(
                    {
                        "uuid": run.uuid,
                        "name": run.name,
                        "steps": kept["step"].tolist(),
                        "values": values,
                    }
                )
            charts.append({"name": name, "series": series})
        return jsonify({"metrics": charts})
