"""A project's quotas: each limit its runs count against, with a bar of what they hold now;
and its run profiles (presets and queues with their priorities)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from ci import runtime
from ci.api.resources import get_project
from ci.runs import quantities, quotas
from ci.store.models import Preset, RunQueue

blueprint = Blueprint("quotas_page", __name__, url_prefix="/projects/<project_name>")

LABELS = {"runs": "concurrent runs", "cpu": "CPUs", "memory": "memory", "gpu": "GPUs"}
FULL_AT = 90  # percent: a bar this full is drawn as nearly out of room


@dataclass(frozen=True)
class Bar:
    """One limit of a quota, ready to draw: what is used of it, as text and percent."""

    limit: str
    label: str
    used: str
    allowed: str
    percent: int

    @property
    def level(self) -> str:
        return "full" if self.percent >= 100 else "high" if self.percent >= FULL_AT else "ok"


def _amount(limit: str, value: float) -> str:
    if limit == "memory":
        return quantities.bytes_text(int(value))
    return f"{value:g}"


def bars(entry: dict[str, Any]) -> list[Bar]:
    """A bar for each limit the quota sets (a null limit is no limit: no bar)."""
    found = []
    for limit in quotas.LIMITS:
        allowed = entry["limits"][limit]
        if allowed is None:
            continue
        used = entry["usage"][limit]
        percent = 100 if allowed == 0 and used else round(100 * used / allowed) if allowed else 0
        found.append(
            Bar(limit, LABELS[limit], _amount(limit, used), _amount(limit, allowed), percent)
        )
    return found


@blueprint.get("/quotas")
def page(project_name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        entries = [{**entry, "bars": bars(entry)} for entry in quotas.report(session, project)]
        queues = session.scalars(
            select(RunQueue)
            .where(RunQueue.project_id == project.id)
            .order_by(RunQueue.priority.desc(), RunQueue.name)
        ).all()
        presets = session.scalars(
            select(Preset).where(Preset.project_id == project.id).order_by(Preset.name)
        ).all()
        return render_template(
            "quotas.html", project=project, entries=entries, queues=queues, presets=presets
        )
