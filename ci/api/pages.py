"""Server-rendered pages people land on from a commit status or a Slack message."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from ci import runtime
from ci.api.runs import get_run, run_logs
from ci.store.models import Run

blueprint = Blueprint("pages", __name__)


@blueprint.get("/runs/<uuid>")
def run_page(uuid: str) -> Any:
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        return render_template("run.html", run=run, logs=run_logs(rt, run))


@blueprint.get("/")
def index() -> Any:
    with runtime.get().db.session() as session:
        runs = list(session.scalars(select(Run).order_by(Run.id.desc()).limit(50)))
        return render_template("index.html", runs=runs)
