"""Server-rendered pages people land on from a commit status or a Slack message."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from ci import runtime
from ci.api.runs import get_run, run_logs

blueprint = Blueprint("pages", __name__)


@blueprint.get("/runs/<uuid>")
def run_page(uuid: str) -> Any:
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        return render_template("run.html", run=run, logs=run_logs(rt, run))
