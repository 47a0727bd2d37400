"""A dag's page, `/runs/<uuid>/pipeline`: its ops drawn as a graph, each with its live status.

The ops are the dag controller's children (`op_name`); the edges are the graph the engine keeps
in the controller's meta (ci.runs.pipelines: each op's `up`, and the ops its events watch).
`pipeline/graph.json` beside the page gives both; `pipeline/statuses.json`, which the page asks
every couple of seconds until the dag is done, only each op's status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.dashboard.controllers import NotThatRun, load_controller
from ci.runs import pipelines
from ci.store.models import Run
from schemas.status import DONE

blueprint = Blueprint("pipeline_page", __name__)
POLL_SECONDS = 1.5


NotADag = NotThatRun


def load_dag(session: Session, uuid: str) -> Run:
    """The dag controller `uuid` names, without its large documents; NotADag says why not."""
    why = "a pipeline: only a dag's controller has ops to draw"
    return load_controller(session, uuid, "dag", why, pipelines.LIGHT)


def graph(session: Session, dag: Run) -> dict[str, Any]:
    """The dag's status and its ops (name, uuid, kind, status, and the ops each waits for)."""
    nodes = pipelines.controller_meta(session, dag).get("graph") or {}
    rows = session.execute(
        select(Run.op_name, Run.uuid, Run.kind, Run.status)
        .where(Run.parent_id == dag.id)
        .order_by(Run.id)
    )
    ops = []
    for row in rows:
        node = nodes.get(row.op_name) or {}
        ups = list(dict.fromkeys([*node.get("up", ()), *node.get("events", {})]))
        ops.append(
            {
                "name": row.op_name,
                "uuid": row.uuid,
                "kind": row.kind,
                "status": str(row.status),
                "up": ups,
            }
        )
    return {"status": str(dag.status), "done": dag.status in DONE, "ops": ops}


def statuses(session: Session, dag: Run) -> dict[str, Any]:
    rows = session.execute(select(Run.op_name, Run.status).where(Run.parent_id == dag.id))
    return {
        "status": str(dag.status),
        "done": dag.status in DONE,
        "ops": {name: str(status) for name, status in rows},
    }


@blueprint.get("/runs/<uuid>/pipeline")
def page(uuid: str) -> Any:
    with runtime.get().db.session() as session:
        try:
            dag = load_dag(session, uuid)
        except NotADag as exc:
            return render_template("pipeline.html", error=exc.message, dag=None), 404
        return render_template("pipeline.html", error=None, dag=dag, poll_seconds=POLL_SECONDS)


@blueprint.get("/runs/<uuid>/pipeline/graph.json")
def graph_json(uuid: str) -> Any:
    with runtime.get().db.session() as session:
        try:
            return jsonify(graph(session, load_dag(session, uuid)))
        except NotADag as exc:
            return jsonify({"error": {"code": 404, "message": exc.message}}), 404


@blueprint.get("/runs/<uuid>/pipeline/statuses.json")
def statuses_json(uuid: str) -> Any:
    with runtime.get().db.session() as session:
        try:
            return jsonify(statuses(session, load_dag(session, uuid)))
        except NotADag as exc:
            return jsonify({"error": {"code": 404, "message": exc.message}}), 404
