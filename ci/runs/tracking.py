"""What a job says about its run beside its metric series: inputs, outputs, tags, a
description, progress and events (the job's side is `axon_tracking`).

Values are JSON; a NaN or an infinity anywhere in them is kept as the string "NaN",
"Infinity" or "-Infinity", so every reader of the run (the API, run queries, report targets)
gets JSON it can parse. Each kind of note is capped, and a refusal names the field.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ci.runs.metrics import MetricsError, jsonable, number
from ci.store.models import Run, RunEvent, RunTracking

MAX_OUTPUTS = 200  # outputs (metrics' latest values included) or inputs of one run
MAX_TAGS = 50
MAX_TAG = 64
MAX_DESCRIPTION = 10_000
MAX_EVENTS = 10_000  # events one run keeps
MAX_EVENTS_PER_REQUEST = 500
MAX_NAME = 128


class TrackingError(MetricsError):
    """A note Axon refuses; `status` is the HTTP status that says why."""


def finite_json(value: Any) -> Any:
    """`value` with each NaN or infinity replaced by its JSON-safe spelling."""
    if isinstance(value, float) and not math.isfinite(value):
        return jsonable(value)
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_json(item) for item in value]
    return value


def _named_values(body: Any, field: str) -> dict[str, Any]:
    found = body.get(field) if isinstance(body, dict) else None
    if not isinstance(found, dict) or not all(isinstance(k, str) and k for k in found):
        raise TrackingError(f"{field}: expected a JSON object of name to value")
    return found


def merge(run: Run, field: str, body: Any, reset: bool = False) -> dict[str, Any]:
    """Add `body[field]` to the run's inputs or outputs (replacing them with `reset`)."""
    given = _named_values(body, field)
    merged = {**({} if reset else (getattr(run, field) or {})), **finite_json(given)}
    if len(merged) > MAX_OUTPUTS:
        raise TrackingError(f"a run keeps at most {MAX_OUTPUTS} {field}", 413)
    setattr(run, field, merged)
    return merged


def mirror_metrics(run: Run, latest: dict[str, float]) -> None:
    """The latest value of each metric, kept among the outputs."""
    merged = {**(run.outputs or {}), **{name: jsonable(v) for name, v in latest.items()}}
    if len(merged) > MAX_OUTPUTS:
        raise TrackingError(f"a run keeps at most {MAX_OUTPUTS} outputs, metrics included", 413)
    run.outputs = merged


def _notes(session: Session, run: Run) -> RunTracking:
    found = session.get(RunTracking, run.id)
    if found is None:
        found = RunTracking(run_id=run.id, tags=[], description="")
        session.add(found)
    return found


def set_tags(session: Session, run: Run, body: Any) -> list[str]:
    """`{"tags": [...], "reset": false}`: tags added to the run's, in order, each once."""
    tags = body.get("tags") if isinstance(body, dict) else None
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(
        isinstance(t, str) and 0 < len(t.strip()) <= MAX_TAG for t in tags
    ):
        raise TrackingError(f"tags: expected a list of tags of 1 to {MAX_TAG} characters")
    notes = _notes(session, run)
    kept = [] if body.get("reset") is True else list(notes.tags or [])
    for tag in tags:
        if tag.strip() not in kept:
            kept.append(tag.strip())
    if len(kept) > MAX_TAGS:
        raise TrackingError(f"a run keeps at most {MAX_TAGS} tags", 413)
    notes.tags = kept
    return kept


def set_description(session: Session, run: Run, body: Any) -> str:
    text = body.get("description") if isinstance(body, dict) else None
    if not isinstance(text, str) or len(text) > MAX_DESCRIPTION:
        raise TrackingError(f"description: expected text of at most {MAX_DESCRIPTION} characters")
    _notes(session, run).description = text
    return text


def set_progress(session: Session, run: Run, body: Any) -> dict[str, Any]:
    """`{"value": 0.3}` (a fraction, as Polyaxon's) or `{"current": 3, "total": 10, "unit":
    "epoch", "figures": {"loss": 0.2}}`; kept with the time it arrived, the last one wins."""
    if not isinstance(body, dict):
        raise TrackingError("body: expected a JSON object")
    unknown = sorted(set(body) - {"value", "current", "total", "unit", "figures"})
    if unknown:
        raise TrackingError(
            f"{unknown[0]}: unknown field; expected value, current, total, unit, figures"
        )
    current, total = body.get("current"), body.get("total")
    if "value" in body:
        fraction = number(body["value"], "value")
    elif current is not None and total is not None:
        current, total = number(current, "current"), number(total, "total")
        if not total > 0:
            raise TrackingError("total: expected a number above 0")
        fraction = current / total
    else:
        raise TrackingError("expected 'value' (a fraction) or 'current' and 'total'")
    if not 0 <= fraction <= 1:
        raise TrackingError(f"progress: expected a fraction from 0 to 1, not {fraction}")
    unit, figures = body.get("unit"), body.get("figures") or {}
    if unit is not None and (not isinstance(unit, str) or len(unit) > MAX_NAME):
        raise TrackingError(f"unit: expected a name of at most {MAX_NAME} characters")
    if not isinstance(figures, dict) or len(figures) > MAX_OUTPUTS:
        raise TrackingError(f"figures: expected an object of at most {MAX_OUTPUTS} values")
    at = datetime.now(UTC).isoformat()
    notes = _notes(session, run)
    # The first point of this stretch of progress, which the ETA's rate is measured from; a
    # fraction lower than it starts a new stretch (a job that starts over).
    since = (notes.progress or {}).get("since")
    if not isinstance(since, dict) or not since.get("fraction", 2) <= fraction:
        since = {"fraction": fraction, "at": at}
    progress = {
        "fraction": fraction,
        "current": current,
        "total": total,
        "unit": unit,
        "figures": finite_json(figures),
        "at": at,
        "since": since,
    }
    notes.progress = progress
    return progress


def add_events(session: Session, run: Run, body: Any) -> int:
    """`{"events": [{"name": "checkpoint", "data": {...}, "time": 1764900000.5}]}`."""
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        raise TrackingError("events: expected a non-empty list of {name, data, time}")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise TrackingError(f"a request carries at most {MAX_EVENTS_PER_REQUEST} events", 413)
    rows = [_event(run, index, event) for index, event in enumerate(events)]
    kept = session.scalar(select(func.count()).where(RunEvent.run_id == run.id)) or 0
    if kept + len(rows) > MAX_EVENTS:
        raise TrackingError(
            f"a run keeps at most {MAX_EVENTS} events; run {run.uuid} has {kept}", 413
        )
    session.add_all(rows)
    return len(rows)


def _event(run: Run, index: int, event: Any) -> RunEvent:
    where = f"events[{index}]"
    if not isinstance(event, dict) or sorted(set(event) - {"name", "data", "time"}):
        raise TrackingError(f"{where}: expected an object with name, data and time")
    name, data, at = event.get("name"), event.get("data") or {}, event.get("time")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise TrackingError(f"{where}.name: expected 1 to {MAX_NAME} characters")
    if not isinstance(data, dict):
        raise TrackingError(f"{where}.data: expected a JSON object")
    moment = datetime.now(UTC)
    if at is not None:
        if isinstance(at, bool) or not isinstance(at, int | float) or not 0 < at < 2**33:
            raise TrackingError(f"{where}.time: expected seconds since the epoch, not {at!r}")
        moment = datetime.fromtimestamp(at, UTC)
    return RunEvent(run_id=run.id, name=name, data=finite_json(data), at=moment)


def events(session: Session, run: Run, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(RunEvent)
        .where(RunEvent.run_id == run.id)
        .order_by(RunEvent.at, RunEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return [{"name": r.name, "data": r.data, "time": r.at.isoformat()} for r in rows]


def notes(session: Session, run: Run) -> dict[str, Any]:
    """Tags, description and progress of the run (empty when its job said nothing)."""
    found = session.get(RunTracking, run.id)
    if found is None:
        return {"tags": [], "description": "", "progress": None}
    return {"tags": found.tags, "description": found.description, "progress": found.progress}


def subtree_uuids(session: Session, run: Run) -> list[str]:
    """The uuids of the run and of every run below it (whose artifacts go with it)."""
    found, frontier = [run.uuid], [run.id]
    while frontier:
        rows = session.execute(select(Run.id, Run.uuid).where(Run.parent_id.in_(frontier))).all()
        found += [uuid for _, uuid in rows]
        frontier = [run_id for run_id, _ in rows]
    return found
