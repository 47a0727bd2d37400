"""Polyaxon's `isApproved: false`: a compiled run waits, `pending` "approval", until approved.

The run is compiled (so a spec error shows at once) and then held: neither its start task nor
the sweeper queues it. `approve` records who approved it in the run's meta and log, and sends
its start; the `queued` condition that follows says who approved it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from ci import runtime
from ci.store.db import after_commit, utcnow
from ci.store.models import Run

log = logging.getLogger(__name__)
APPROVAL = "approval"


class NotWaiting(Exception):
    """The run is not waiting for approval; the message says what it is doing."""


def required(spec: dict[str, Any], component: dict[str, Any]) -> bool:
    """Whether the operation (or, when it says nothing, its component) asks for approval."""
    said = spec.get("isApproved")
    if said is None:
        said = component.get("isApproved")
    return said is False


def hold(run: Run) -> None:
    run.pending = APPROVAL
    log.info("run %s waits for approval", run.uuid)


def approve(session: Session, run: Run, who: str) -> None:
    """Let a held run go: NotWaiting if it is not waiting for approval. The caller holds the
    run's row (FOR UPDATE); its start is sent once the transaction commits."""
    if run.pending != APPROVAL:
        waiting = f", waiting for its {run.pending}" if run.pending else ""
        raise NotWaiting(
            f"run {run.uuid} is not waiting for approval (it is {run.status}{waiting})"
        )
    run.pending = None
    run.meta = {**(run.meta or {}), "approved_by": who, "approved_at": utcnow().isoformat()}
    log.info("run %s approved by %s", run.uuid, who)
    run_id = run.id
    after_commit(session, lambda: runtime.enqueue("axon.start_run", run_id))


def approved_by(run: Run) -> str | None:
    who = (run.meta or {}).get("approved_by")
    return str(who) if who else None
