"""A run's logs as server-sent events, from a character offset, for as long as the run lives.

Each `logs` event carries the text after the offset and, as its id, the offset after it: a
browser that reconnects sends that id back as `Last-Event-ID` and the stream resumes there,
neither losing nor repeating a line. A stream lasts at most `STREAM_SECONDS` (the browser's
EventSource reconnects by itself), so a page left open holds no server thread for ever. Logs
are read where `ci.api.runs.run_logs` reads them: the text stored on the run (followed lines,
then the complete logs once it is done), else the runner's own copy while it runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ci.runtime import Runtime
from ci.store.models import Run
from schemas.status import DONE

log = logging.getLogger(__name__)
STREAM_SECONDS = 50.0
POLL_SECONDS = 0.5
MOST_CHARS = 256 * 1024  # one event's text; a longer backlog goes in several
RETRY_MS = 1000
DONE_NAMES = frozenset(str(status) for status in DONE)


@dataclass(frozen=True)
class Slice:
    text: str
    length: int  # the whole text's, in characters
    status: str


def read_since(rt: Runtime, uuid: str, offset: int) -> Slice | None:
    """The run's logs after `offset` characters (at most MOST_CHARS); None if there is no run."""
    with rt.db.session() as session:
        row = session.execute(
            select(
                Run.status,
                Run.runner,
                Run.external_id,
                func.length(Run.logs),
                func.substr(Run.logs, offset + 1, MOST_CHARS),
            ).where(Run.uuid == uuid)
        ).one_or_none()
    if row is None:
        return None
    status, runner, external_id, length, text = row
    if length is None:  # nothing stored yet: the runner holds the live logs
        whole = rt.runner(runner).logs(external_id) if external_id else ""
        length, text = len(whole), whole[offset : offset + MOST_CHARS]
    return Slice(text or "", int(length), str(status))


def message(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data)}\n\n"


def stream(
    rt: Runtime,
    uuid: str,
    offset: int,
    seconds: float = STREAM_SECONDS,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """`logs`, `status` and finally `done` events for the run, from `offset` characters."""
    deadline = clock() + seconds
    shown_status = None
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        try:
            found = read_since(rt, uuid, offset)
        except SQLAlchemyError:
            # The database is away: end the stream, and the browser asks again in a second.
            log.warning("reading the logs of run %s failed", uuid, exc_info=True)
            return
        if found is None:
            yield message("done", {"status": None, "reason": f"no run {uuid!r}"})
            return
        if found.length < offset:
            # The complete logs replaced what was followed, and they are shorter: start over.
            offset = 0
            found = read_since(rt, uuid, 0) or found
            yield message("reset", {})
        if found.text:
            offset += len(found.text)
            yield message("logs", {"text": found.text}, event_id=offset)
        if found.status != shown_status:
            shown_status = found.status
            yield message("status", {"status": found.status})
        if found.status in DONE_NAMES and offset >= found.length:
            yield message("done", {"status": found.status})
            return
        if clock() >= deadline:
            return
        if len(found.text) < MOST_CHARS:  # a backlog is sent at once, new lines every poll
            # A comment line: writing is how a server learns that the browser has gone.
            yield ":\n\n"
            time.sleep(poll)
