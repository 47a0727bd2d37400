"""Live statuses of the runs a page shows, as server-sent events from one small query a second.

Each connection first sends the current status of every run it watches, then only changes: a
cursor on `updated_at` could skip a change whose transaction committed late (the writer stamps
the time before it commits), while a page's fifty statuses cost nothing to send again. A run
that is done is no longer watched; when none is left the stream says `end` and the page stops
listening. Otherwise the stream ends after STREAM_SECONDS, so a forgotten tab never holds a
server thread for long, and the browser's EventSource reconnects by itself.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select

from ci.dashboard.runs_table import duration_text
from ci.store.db import Database
from ci.store.models import Run
from schemas.status import DONE

POLL_SECONDS = 1.0
STREAM_SECONDS = 30.0
# How long the browser waits before it reconnects after the stream ends.
RETRY_MILLISECONDS = 1000
# 100 uuids keep the stream's request line under 4,094 bytes, the most gunicorn accepts.
MOST_IDS = 100
UUID = re.compile(r"^[0-9a-f]{32}$")


def parse_ids(text: str) -> list[str]:
    """The run uuids of `?ids=a,b`; ValueError naming the first one that is not a uuid."""
    uuids = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not uuids:
        raise ValueError("ids: expected run uuids separated by commas")
    if len(uuids) > MOST_IDS:
        raise ValueError(f"ids: at most {MOST_IDS} runs, not {len(uuids)}")
    for uuid in uuids:
        if not UUID.match(uuid):
            raise ValueError(f"ids: {uuid[:40]!r} is not a run uuid (32 hex digits)")
    return uuids


def events(
    db: Database,
    project_id: int,
    uuids: list[str],
    pause: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """The event stream's text: `runs` events (a list of {uuid, status, duration}) and a last
    `end` once every watched run is done or gone."""
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    deadline = time.monotonic() + STREAM_SECONDS
    watching, known = set(uuids), dict[str, str]()
    order = {uuid: place for place, uuid in enumerate(uuids)}  # the page's order
    while True:
        found = _statuses(db, project_id, watching)
        found.sort(key=lambda run: order[run["uuid"]])
        changed = [run for run in found if known.get(run["uuid"]) != run["status"]]
        known.update((run["uuid"], run["status"]) for run in found)
        if changed:
            yield _message("runs", changed)
        else:
            # A comment: lets the server notice a closed tab at its next write.
            yield ":\n\n"
        watching = {run["uuid"] for run in found if run["status"] not in DONE}
        if not watching:
            yield _message("end", {})
            return
        if time.monotonic() >= deadline:
            return
        pause(POLL_SECONDS)


def _statuses(db: Database, project_id: int, uuids: set[str]) -> list[dict[str, Any]]:
    query = select(Run.uuid, Run.status, Run.started_at, Run.finished_at).where(
        Run.project_id == project_id, Run.uuid.in_(uuids)
    )
    with db.session() as session:
        rows = session.execute(query).all()
    found = []
    for uuid, status, started, finished in rows:
        seconds = (finished - started).total_seconds() if started and finished else None
        found.append({"uuid": uuid, "status": status, "duration": duration_text(seconds)})
    return found


def _message(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
