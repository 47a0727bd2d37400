"""One page of a project's runs as the runs list shows them: the rows, their parents, the
count of all that match, and the columns each cell is written from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from ci.runs.query import select_runs
from ci.store.models import Run

# Beyond this many metric columns the table would scroll sideways on every page.
MOST_METRICS = 6
# What a page reads of each run: never its spec, compiled document or kept logs.
SHOWN_COLUMNS = (
    Run.id,
    Run.uuid,
    Run.name,
    Run.op_name,
    Run.kind,
    Run.status,
    Run.parent_id,
    Run.event,
    Run.outputs,
    Run.created_at,
    Run.started_at,
    Run.finished_at,
)


@dataclass(frozen=True)
class Parent:
    uuid: str
    name: str


@dataclass(frozen=True)
class Listing:
    """The runs of one page, newest first unless sorted, and how many match in all."""

    runs: list[Run]
    parents: dict[int, Parent]
    total: int
    metrics: list[str]


def listing(
    session: Session, project_id: int, query: str, sort: str, limit: int, offset: int
) -> Listing:
    """The page of runs `query` matches; QueryError for a term or sort key that cannot be read."""
    matching = select_runs(session, project_id, query, sort=sort)
    total = session.scalar(select(func.count()).select_from(matching.order_by(None).subquery()))
    page = matching.offset(offset).limit(limit).options(load_only(*SHOWN_COLUMNS))
    runs = list(session.scalars(page))
    return Listing(runs, _parents(session, runs), total or 0, metric_names(runs, sort))


def _parents(session: Session, runs: list[Run]) -> dict[int, Parent]:
    ids = {run.parent_id for run in runs if run.parent_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(Run.id, Run.uuid, Run.name).where(Run.id.in_(ids)))
    return {id_: Parent(uuid, name or uuid[:8]) for id_, uuid, name in rows}


def metric_names(runs: list[Run], sort: str) -> list[str]:
    """The numeric outputs the page's runs report, the ones sorted by first and always shown."""
    sorted_by: list[str] = []
    for key in (part.strip().lstrip("-+") for part in sort.split(",")):
        field, _, name = key.partition(".")
        if field.strip() in ("metrics", "outputs", "out") and name.strip() not in sorted_by:
            sorted_by.append(name.strip())
    reported = {
        name
        for run in runs
        for name, value in (run.outputs or {}).items()
        if is_number(value) and name not in sorted_by
    }
    return sorted_by + sorted(reported)[: max(0, MOST_METRICS - len(sorted_by))]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def metric(run: Run, name: str) -> str:
    value = (run.outputs or {}).get(name)
    if not is_number(value):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def duration_text(seconds: float | None) -> str:
    """`42.1 s`, `3m 05s`, `2h 07m`; empty until the run has both started and finished."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def trigger(event: dict[str, Any] | None) -> tuple[str, str]:
    """What started the run, as (where, commit): `org/repo@main`, `a1b2c3d`; or `manual`,
    `schedule` and an empty commit."""
    event = event or {}
    kind = str(event.get("kind") or "")
    repo = str(event.get("repo") or "")
    if kind in ("manual", "schedule") or not repo:
        return kind or "manual", ""
    pull = event.get("pull_request")
    if isinstance(pull, dict) and pull.get("number"):
        place = f"{repo}#{pull['number']}"
    elif event.get("tag"):
        place = f"{repo}@{event['tag']}"
    elif event.get("branch"):
        place = f"{repo}@{event['branch']}"
    else:
        place = repo
    return place, str(event.get("sha") or "")[:7]
