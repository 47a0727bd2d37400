"""REST API for runs: list (queries), show, children, logs, events, stop, delete (the
tracking endpoints jobs report to are ci.api.tracking)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api import views
from ci.api.errors import ApiError, limit_param, offset_param
from ci.api.resources import get_project
from ci.artifacts import store
from ci.identity import enforce
from ci.runs import tracking, tree, trials
from ci.runs.query import select_runs
from ci.runs.query_terms import QueryError
from ci.store.db import after_commit
from ci.store.models import Run
from runners.base import RunnerUnavailable
from schemas.status import DONE

blueprint = Blueprint("runs", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


def get_run(session: Session, uuid: str, lock: bool = False) -> Run:
    query = select(Run).where(Run.uuid == uuid)
    run = session.scalar(query.with_for_update() if lock else query)
    if run is None:
        raise ApiError(404, f"no run {uuid!r}")
    return run


@blueprint.get("/runs")
def list_runs() -> Any:
    """`?query=` in Polyaxon's syntax, `?sort=`, `?limit=`, `?offset=`, `?project=`,
    `?parent=UUID` (the runs that run made: a search's trials, each with its params and its
    value of the search's metric)."""
    rt = runtime.get()
    limit, offset = limit_param(), offset_param()
    with rt.db.session() as session:
        project = request.args.get("project")
        project_id = get_project(session, project).id if project else None
        try:
            query = select_runs(
                session,
                project_id,
                request.args.get("query"),
                limit=limit,
                sort=request.args.get("sort"),
                offset=offset,
            )
        except QueryError as exc:
            raise ApiError(400, str(exc), term=exc.term) from None
        if request.args.get("status"):
            query = query.where(Run.status == request.args["status"])
        query = enforce.only_readable(session, query, Run.project_id)
        if request.args.get("parent"):
            query = query.where(Run.parent_id == get_run(session, request.args["parent"]).id)
        return jsonify(_listed(rt, session, list(session.scalars(query))))


def _listed(rt: runtime.Runtime, session: Session, rows: list[Run]) -> list[dict[str, Any]]:
    """Rows of a list answer; a trial's params and metric found for all rows at once."""
    described = trials.describe(session, rows)
    return [views.run(r, rt.run_url(r.uuid), False, described[r.id]) for r in rows]


@blueprint.get("/runs/<uuid>/children")
def list_children(uuid: str) -> Any:
    """The runs this one made (a dag's ops, a matrix's trials), oldest first, in pages."""
    rt = runtime.get()
    limit, offset = limit_param(), offset_param()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        rows = tree.children(session, run, limit=limit, offset=offset)
        return jsonify(_listed(rt, session, list(rows)))


@blueprint.get("/runs/<uuid>")
def show_run(uuid: str) -> Any:
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        return jsonify(views.run(run, rt.run_url(run.uuid)))


def run_logs(rt: runtime.Runtime, run: Run) -> str:
    """Kept logs once the run is done; the runner's live logs before that."""
    if run.logs is not None or not run.external_id:
        return run.logs or ""
    return rt.runner(run.runner).logs(run.external_id)


@blueprint.get("/runs/<uuid>/logs")
def show_logs(uuid: str) -> Any:
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        text, done = run_logs(rt, run), run.status in DONE
    return Response(text, mimetype="text/plain", headers={"X-Axon-Run-Done": str(done).lower()})


@blueprint.get("/runs/<uuid>/events")
def show_events(uuid: str) -> Any:
    """The backend's events about the run (Kubernetes: scheduling, image pulls, back-offs)."""
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        runner_name, external_id = run.runner, run.external_id
    if not external_id:
        return jsonify([])
    runner = rt.runner(runner_name)
    try:
        found = runner.events(external_id)
    except RunnerUnavailable as exc:
        raise ApiError(503, f"runner {runner_name!r} cannot be reached: {exc}") from exc
    if found is None:
        raise ApiError(404, f"runner {runner_name!r} keeps no events")
    return jsonify([views.jsonable(_as_dict(event)) for event in found])


def _as_dict(event: Any) -> Any:
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        return dataclasses.asdict(event)
    return event


@blueprint.post("/runs/<uuid>/stop")
def stop(uuid: str) -> Any:
    """Stop the run and, if it is a pipeline, its live children."""
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid, lock=True)
        request_stop(session, run)
        return jsonify(views.run(run, rt.run_url(run.uuid))), 202


def request_stop(session: Session, run: Run) -> None:
    """Stop `run` (its row held FOR UPDATE) and its live children; each run a runner holds is
    sent `axon.stop_run` once the transaction commits. The API and the run page both stop here."""
    for run_id in tree.stop(session, run, "stop requested"):
        after_commit(session, lambda run_id=run_id: runtime.enqueue("axon.stop_run", run_id))


@blueprint.delete("/runs/<uuid>")
def delete_run(uuid: str) -> Any:
    """Delete a done run with its subtree; refused while it or a run below it lives."""
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid, lock=True)
        if run.status not in DONE:
            raise ApiError(409, f"run {uuid} is {run.status}: stop it before deleting it")
        live = tree.live_descendants(session, run)
        if live:
            named = ", ".join(f"{r.uuid} ({r.op_name or r.name}, {r.status})" for r in live[:20])
            more = f" and {len(live) - 20} more" if len(live) > 20 else ""
            raise ApiError(
                409,
                f"run {uuid} has runs below it still live: {named}{more}; stop them first",
                live=[r.uuid for r in live],
            )
        uuids = tracking.subtree_uuids(session, run)
        tree.delete(session, run)
        after_commit(session, lambda: _delete_artifacts(rt, uuids))
    return Response(status=204)


def _delete_artifacts(rt: runtime.Runtime, uuids: list[str]) -> None:
    """The deleted runs' artifacts and kept logs; a store that fails leaves files, never the
    deletion undone."""
    artifacts = store.for_settings(rt.settings)
    for uuid in uuids:
        try:
            artifacts.delete(uuid)
        except OSError as exc:
            log.warning("artifacts of deleted run %s were not deleted: %s", uuid, exc)
