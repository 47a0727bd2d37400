"""The run page, where a commit status, a Slack message or a run list links to: the run's
header and origin, its history and notes, metric charts, artifacts, live logs, events and
notification log, and a stop button. Its scripts read the JSON and event-stream routes here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from ci import runtime
from ci.api import artifacts as artifacts_api
from ci.api import views
from ci.api.errors import ApiError
from ci.api.runs import get_run, request_stop, run_logs
from ci.artifacts import store
from ci.dashboard.run_facts import (
    backend_events,
    job_events,
    notes,
    notifications,
    origin,
    parent_of,
    series_names,
)
from ci.dashboard.run_log_stream import stream
from ci.runs import metrics, services
from ci.store.models import Run
from schemas.status import DONE, RunStatus

blueprint = Blueprint("run_page", __name__)

# The page shows the tail of long logs; the whole text stays a download away (the API's logs).
LOGS_SHOWN = 512 * 1024
ARTIFACTS_SHOWN = 1000


@blueprint.get("/runs/<uuid>")
def show(uuid: str) -> Any:
    rt = runtime.get()
    with rt.db.session() as session:
        run = session.scalar(select(Run).where(Run.uuid == uuid))
        if run is None:
            return render_template("run_missing.html", uuid=uuid), 404
        logs = run_logs(rt, run)
        artifacts, artifacts_error = _artifacts(uuid)
        events, events_note = backend_events(run)
        series = series_names(session, run)
        live = run.status not in DONE
        page = {
            "uuid": run.uuid,
            "live": live,
            "logsOffset": len(logs),
            "metrics": series["metric"],
            "system": series["system"],
            "points": metrics.MOST_POINTS,
            "urls": {
                "metric": url_for("run_page.metric_series", uuid=uuid),
                "system": url_for("run_page.system_series", uuid=uuid),
                "logs": url_for("run_page.log_stream", uuid=uuid),
            },
        }
        return render_template(
            "run.html",
            run=run,
            live=live,
            # A run already stopping is on its way: a second stop would change nothing.
            stoppable=live and run.status != RunStatus.STOPPING,
            page=page,
            logs=logs[-LOGS_SHOWN:],
            logs_cut=max(0, len(logs) - LOGS_SHOWN),
            origin=origin(session, run),
            family=views.family(run, shown=20),
            parent=parent_of(session, run),
            notes=notes(session, run),
            series=series,
            artifacts=artifacts,
            artifacts_error=artifacts_error,
            job_events=job_events(session, run),
            backend_events=events,
            backend_events_note=events_note,
            notifications=notifications(session, run),
            service_url=services.open_url(
                run.status, run.compiled, url_for("run_page.show", uuid=uuid)
            ),
            service_later=live and services.facts(run.compiled) is not None,
        )


def _artifacts(uuid: str) -> tuple[list[store.Artifact], str]:
    try:
        found = store.for_settings(runtime.get().settings).files(uuid)
    except OSError as exc:
        return [], f"the artifacts store cannot be reached: {exc}"
    return found[:ARTIFACTS_SHOWN], ""


@blueprint.get("/runs/<uuid>/metrics.json")
def metric_series(uuid: str) -> Any:
    return _series(uuid, "metric")


@blueprint.get("/runs/<uuid>/system.json")
def system_series(uuid: str) -> Any:
    return _series(uuid, "system")


def _series(uuid: str, kind: str) -> Any:
    """`?name=` (repeatable) and `?points=`: each series cut to at most that many points, as
    the API's `/metrics` and `/system` answer (NaN spelled "NaN"); without a name, a summary."""
    names = [name for name in request.args.getlist("name") if name]
    most = _whole("points", 2, metrics.MOST_POINTS, default=1000)
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        if not names:
            return jsonify(metrics.summary(session, run.id, kind))
        return jsonify([metrics.chart(session, run.id, kind, name, most) for name in names])


@blueprint.get("/runs/<uuid>/logs/stream")
def log_stream(uuid: str) -> Any:
    """Server-sent events of the logs after `Last-Event-ID` (a reconnect) or `?offset=`."""
    resumed = request.headers.get("Last-Event-ID", "").strip()
    offset = _whole("Last-Event-ID", 0, 10**9, given=resumed) if resumed else None
    if offset is None:
        offset = _whole("offset", 0, 10**9, default=0)
    rt = runtime.get()
    with rt.db.session() as session:
        get_run(session, uuid)
    return Response(
        stream(rt, uuid, offset),
        mimetype="text/event-stream",
        # A proxy that buffers would hold every line until the stream ends.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@blueprint.get("/runs/<uuid>/artifacts/<path:path>")
def download(uuid: str, path: str) -> Any:
    return artifacts_api.download(uuid, path)


@blueprint.post("/runs/<uuid>/stop")
def stop(uuid: str) -> Any:
    """The stop button: the API's stop, then back to the page (303, so a reload is a GET)."""
    with runtime.get().db.session() as session:
        run = get_run(session, uuid, lock=True)
        request_stop(session, run)
    return redirect(url_for("run_page.show", uuid=uuid), code=303)


def _whole(field: str, least: int, most: int, default: int = 0, given: str | None = None) -> int:
    """A whole-number parameter; ApiError(400) naming `field` unless it is in [least, most]."""
    value = (request.args.get(field, "") if given is None else given).strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or not least <= int(value) <= most:
        raise ApiError(
            400, f"{field}: expected a whole number from {least} to {most}, not {value[:20]!r}"
        )
    return int(value)
