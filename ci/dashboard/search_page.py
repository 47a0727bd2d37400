"""A search's page, `/runs/<uuid>/search`: its trials as parallel coordinates (one axis per
param and one for the metric it optimizes) and as a param-against-metric scatter, the best
trial marked in both, and a table of the trials. The plots' data comes inside the page as JSON:
a thousand trials are read once, not once for the table and again for the plots.

A search is a matrix controller (ci.runs.searches, or a grid, random or mapping matrix of
ci.runs.pipeline_children); each trial's params and metric are read as the API reads them
(ci.runs.trials).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from ci import runtime
from ci.dashboard.controllers import NotThatRun, load_controller
from ci.runs import metrics, trials
from ci.store.models import Run

blueprint = Blueprint("search_page", __name__)

# Param kinds whose values spread over orders of magnitude: their axis is logarithmic.
LOG_KINDS = frozenset({"loguniform", "qloguniform", "logspace", "geomspace"})
# Param kinds that pick among listed values: one slot per value, numbers or not.
CHOICE_KINDS = frozenset({"choice", "pchoice"})
# The page offers to compare this many of the best trials side by side.
LEADERS = 5


NotASearch = NotThatRun


def load_search(session: Session, uuid: str) -> Run:
    """The matrix controller `uuid` names; NotASearch says why not when it is none."""
    why = "a search: only a matrix's controller has trials to plot"
    return load_controller(session, uuid, "matrix", why)


def matrix_of(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    found = ((meta or {}).get("search") or {}).get("matrix")
    return dict(found) if isinstance(found, Mapping) else {}


def scale_of(param: Any) -> str:
    """How a param's axis spaces its values: `log`, `category` or `linear` (numbers, else
    one slot per value)."""
    kind = param.get("kind") if isinstance(param, Mapping) else None
    if kind in LOG_KINDS:
        return "log"
    return "category" if kind in CHOICE_KINDS else "linear"


def trial_rows(session: Session, search: Run) -> list[dict[str, Any]]:
    """Each trial, oldest first: uuid, name, number, status, params and metric value."""
    rows = list(
        session.scalars(
            select(Run)
            .where(Run.parent_id == search.id)
            .options(
                load_only(
                    Run.id,
                    Run.uuid,
                    Run.name,
                    Run.op_name,
                    Run.status,
                    Run.meta,
                    Run.outputs,
                    Run.parent_id,
                )
            )
            .order_by(Run.id)
        )
    )
    described = trials.describe(session, rows)
    found = []
    for row in rows:
        about = described[row.id]
        iteration = (row.meta or {}).get("iteration")
        found.append(
            {
                "uuid": row.uuid,
                "name": row.op_name or row.name,
                "number": iteration if isinstance(iteration, int) else None,
                "status": str(row.status),
                "params": about["params"] or {},
                "value": _finite((about["metric"] or {}).get("value")),
            }
        )
    return found


def _finite(value: float | None) -> float | str | None:
    # A series may end in NaN or an infinity, which JSON cannot carry as a number.
    return None if value is None else metrics.jsonable(value)


def summary(session: Session, search: Run) -> dict[str, Any]:
    """What the page draws: the metric and its direction, each param's axis, the trials, the
    best trial, and the uuids of the leading trials."""
    matrix = matrix_of(search.meta)
    rows = trial_rows(session, search)
    declared = matrix.get("params") or {}
    names = list(declared)
    for row in rows:
        names += [name for name in row["params"] if name not in names]
    params = [{"name": name, "scale": scale_of(declared.get(name))} for name in names]
    best = trials.best(session, search.meta)
    metric = trials.metric_of(search.meta)
    optimization = (matrix.get("metric") or {}).get("optimization") or "maximize"
    return {
        "metric": {"name": metric, "optimization": optimization} if metric else None,
        "params": params,
        "trials": rows,
        "best": best.as_dict() if best else None,
        "leaders": leaders(rows, optimization) if metric else [],
    }


def leaders(rows: list[dict[str, Any]], optimization: str) -> list[str]:
    """The uuids of the LEADERS best trials by their metric, best first."""
    scored = [row for row in rows if isinstance(row["value"], int | float)]
    scored.sort(key=lambda row: float(row["value"]), reverse=optimization != "minimize")
    return [row["uuid"] for row in scored[:LEADERS]]


@blueprint.get("/runs/<uuid>/search")
def page(uuid: str) -> Any:
    with runtime.get().db.session() as session:
        try:
            search = load_search(session, uuid)
        except NotASearch as exc:
            return render_template("search.html", error=exc.message, search=None), 404
        found = summary(session, search)
        return render_template("search.html", error=None, search=search, data=found, **found)
