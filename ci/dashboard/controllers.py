"""A page about a controller run (a dag's, a matrix's) finds it here, or says why it cannot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.store.models import Run


class NotThatRun(Exception):
    """The uuid names no run, or a run of another kind; `message` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_controller(
    session: Session, uuid: str, kind: str, why: str, options: tuple[Any, ...] = ()
) -> Run:
    """The run `uuid` names if it is of `kind`; `why` ends the refusal of any other kind."""
    run = session.scalar(select(Run).where(Run.uuid == uuid).options(*options))
    if run is None:
        raise NotThatRun(f"no run {uuid!r}")
    if run.kind != kind:
        raise NotThatRun(f"run {uuid!r} is a {run.kind} run, not {why}")
    return run
