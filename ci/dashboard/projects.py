"""The landing page: every project with its runs counted by status."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import func, select

from ci import runtime
from ci.identity import enforce
from ci.store.models import Project, Run

blueprint = Blueprint("projects", __name__)


@blueprint.get("/")
def index() -> Any:
    with runtime.get().db.session() as session:
        visible = enforce.only_readable(session, select(Project), Project.id)
        projects = list(session.scalars(visible.order_by(Project.name)))
        counts: dict[int, dict[str, int]] = {}
        rows = session.execute(
            select(Run.project_id, Run.status, func.count()).group_by(Run.project_id, Run.status)
        )
        for project_id, status, count in rows:
            counts.setdefault(project_id, {})[status] = count
        return render_template("projects.html", projects=projects, counts=counts)
