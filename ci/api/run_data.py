"""What jobs reported about their runs, read back with the API token: the tracking summary,
metric and system series (cut to what a chart draws), and the job's events."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from ci import runtime
from ci.api.errors import ApiError, limit_param
from ci.api.runs import get_run, offset_param
from ci.runs import metrics, tracking

blueprint = Blueprint("run_data", __name__, url_prefix="/api/v1")


@blueprint.get("/runs/<uuid>/tracking")
def show_tracking(uuid: str) -> Any:
    """Inputs, outputs, tags, description, progress, and each series' count and last point."""
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        return jsonify(
            {
                "uuid": run.uuid,
                "inputs": run.inputs or {},
                "outputs": run.outputs or {},
                **tracking.notes(session, run),
                "metrics": metrics.summary(session, run.id, "metric"),
                "system": metrics.summary(session, run.id, "system"),
            }
        )


def _points_param() -> int:
    given = request.args.get("points", "").strip()
    if not given:
        return 1000
    if not (given.isascii() and given.isdigit()) or not 2 <= int(given) <= metrics.MOST_POINTS:
        raise ApiError(
            400, f"points: expected a whole number from 2 to {metrics.MOST_POINTS}, not {given!r}"
        )
    return int(given)


def _series(uuid: str, kind: str) -> Any:
    rt = runtime.get()
    names = [name for name in request.args.getlist("name") if name]
    most = _points_param()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        if not names:
            return jsonify(metrics.summary(session, run.id, kind))
        return jsonify([metrics.chart(session, run.id, kind, name, most) for name in names])


@blueprint.get("/runs/<uuid>/metrics")
def show_metrics(uuid: str) -> Any:
    """Without `?name=`: each metric's count and last point. With `?name=loss` (repeatable):
    each series as `steps`, `times`, `values`, at most `?points=` (default 1000) of them,
    min/max buckets when longer (its `count` says how many it has)."""
    return _series(uuid, "metric")


@blueprint.get("/runs/<uuid>/system")
def show_system(uuid: str) -> Any:
    """The job's resource samples, as `/metrics` answers its metrics."""
    return _series(uuid, "system")


@blueprint.get("/runs/<uuid>/job-events")
def show_job_events(uuid: str) -> Any:
    """What the job said happened, oldest first, in pages (`?limit=`, `?offset=`)."""
    rt = runtime.get()
    limit, offset = limit_param(default=100, most=1000), offset_param()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        return jsonify(tracking.events(session, run, limit, offset))
