"""An operation's own `schedule:`: a controller run whose children are the runs its slots fired.

A run whose operation carries `schedule:` (Polyaxon's cron, interval or datetime kinds) does not
go to a runner: once compiled it becomes a controller (kind "schedule", running) owning one
schedule row, which ci.schedules.firing ticks like a subscription's, exactly once per slot.
Each fired slot creates one child run: the operation without its `schedule:`, named
`slot-<time>` under the controller, with `globals.schedule_at` set to the slot.

Polyaxon's semantics: `maxRuns` and `endAt` end the schedule; `dependsOnPast` holds a slot until
the previous fired run is done (whatever its outcome); the controller then ends, once its
children are done, by the pipeline rule (stopping: stopped; a failed child: failed; all stopped:
stopped; else succeeded). Stopping the controller ends its schedule.

Locks: the scheduler holds a schedule row and inserts children under the controller; whoever
moves the controller holds its run row. So the scheduler never locks a controller run (it asks
for `axon.advance_pipeline` after commit instead), and `advance` never waits for a schedule row
(it skips one a scheduler holds: that scheduler settles it on its own).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ci.runs import approval, lifecycle, policies
from ci.runtime import Runtime
from ci.schedules import state, sync
from ci.store.db import utcnow
from ci.store.models import Run
from ci.store.models import Schedule as ScheduleRow
from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_operation
from schemas.status import DONE, RunStatus, ScheduleState

log = logging.getLogger(__name__)
S = RunStatus
KIND = "schedule"
ENTRY = 0  # a run has one schedule: its operation's
STOPPED_WHY = "the controller run was stopped"


def is_scheduled(run: Run) -> bool:
    """Whether the run's operation has its own `schedule:` (so it is a schedule controller)."""
    return isinstance(run.spec, dict) and run.spec.get("schedule") is not None


def start(rt: Runtime, session: Session, run: Run, now: datetime | None = None) -> None:
    """Make the compiled run a running schedule controller with its schedule row (entry 0).

    The caller holds the run's row. Safe twice: a second call finds the row and the status.
    """
    if run.status != S.COMPILED:
        return
    now = now or utcnow()
    try:
        given = load_operation(run.spec).schedule
    except (SpecError, SpecErrors) as exc:  # compiled already, so only a changed Axon gets here
        lifecycle.transition(session, run, S.FAILED, "CompilationError", str(exc))
        return
    if given is None:
        return
    run.kind = KIND
    row = schedule_of(session, run.id)
    if row is None:
        spec = given.model_dump(by_alias=True, exclude_none=True, mode="json")
        row = ScheduleRow(run_id=run.id, entry=ENTRY, spec=spec)
        session.add(row)
        _begin(row, now)
        session.flush()
    lifecycle.transition(session, run, S.RUNNING, "ScheduleStarted", describe(row))
    if row.state == ScheduleState.ENDED:
        _finish(session, run, row)


def _begin(row: ScheduleRow, now: datetime) -> None:
    """Point a new schedule at its first slot: the first after `now`, or a datetime's one
    slot even if it has passed (Polyaxon starts a run whose time has come at once)."""
    state.move(row, ScheduleState.ACTIVE)
    timing = sync.timing_of(row)
    if timing is None:
        return
    first = timing.at if timing.kind == "datetime" else timing.next_after(now)
    row.next_slot_at = first
    ended = timing.end_reason(0, first)
    if ended or first is None:
        sync.end(row, ended)
        return
    row.next_fire_at = timing.due_at(first, sync.slot_key(row))


def describe(row: ScheduleRow) -> str:
    if row.state == ScheduleState.ENDED:
        return f"schedule ended before its first slot: {row.reason}"
    spec = row.spec or {}
    every = spec.get("cron") or (f"every {spec['frequency']:g}s" if "frequency" in spec else "")
    when = row.next_slot_at.isoformat() if row.next_slot_at else "-"
    return f"{spec.get('kind', 'schedule')} {every}".strip() + f"; first slot {when}"


def schedule_of(session: Session, run_id: int, lock: bool = False) -> ScheduleRow | None:
    query = select(ScheduleRow).where(ScheduleRow.run_id == run_id, ScheduleRow.entry == ENTRY)
    if lock:
        # Never wait for a scheduler that holds the row: see the module's note on locks.
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def halted(session: Session, row: ScheduleRow) -> str:
    """Why the controller owning `row` fires no more slots, or "" while it runs.

    Reads the controller FOR KEY SHARE, held to the end of the tick: a stop that commits
    first is seen here, and one that comes later waits for this tick's children, and stops
    them too.
    """
    status = session.scalar(
        select(Run.status)
        .where(Run.id == row.run_id)
        .with_for_update(read=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    if status == S.RUNNING:
        return ""
    if status == S.STOPPING or status == S.STOPPED:
        return STOPPED_WHY
    return f"the controller run is {status or 'gone'}"


def _fired_spec(parent: Run) -> dict[str, Any]:
    """The operation without its schedule. Approval is asked once, of the controller: the runs
    it fires after that go without asking again."""
    spec = {key: value for key, value in parent.spec.items() if key != "schedule"}
    if approval.approved_by(parent):
        spec["isApproved"] = True
    return spec


def guard(session: Session, row: ScheduleRow, depends_on_past: bool) -> tuple[str, str]:
    """Whether a slot of the run's schedule may fire now: ("fire" | "wait", why).

    dependsOnPast, as Polyaxon: wait while the previous fired run is not done, whatever way
    it then ends. Polyaxon's schedules have no concurrency policy: slots may overlap.
    """
    if not depends_on_past:
        return "fire", ""
    previous = session.execute(
        select(Run.id, Run.op_name, Run.status)
        .where(Run.parent_id == row.run_id)
        .order_by(Run.id.desc())
        .limit(1)
    ).first()
    if previous is None or previous.status in DONE:
        return "fire", ""
    why = f"run {previous.id} ({previous.op_name}) is {previous.status}"
    return "wait", f"dependsOnPast: waiting for the previous run to be done: {why}"


def op_name(slot: datetime) -> str:
    return f"slot-{slot.isoformat()}"


def fire(session: Session, row: ScheduleRow, slot: datetime) -> int | None:
    """Create the slot's child run (once: its name is unique under the controller); its id."""
    parent = session.get(Run, row.run_id)
    if parent is None:
        return None
    stamp = slot.isoformat()
    child = Run(
        project_id=parent.project_id,
        parent_id=parent.id,
        op_name=op_name(slot),
        name=parent.name,
        kind="job",
        # Reports go through the controller, as for the ops of a dag.
        subscription_id=None,
        delivery_id=parent.delivery_id,
        event={**(parent.event or {}), "scheduled_at": stamp},
        spec=_fired_spec(parent),
        runner=parent.runner,
    )
    try:
        with session.begin_nested():
            lifecycle.create(session, child, "ScheduleFired", f"slot {stamp} of run {parent.uuid}")
            session.flush()
    except IntegrityError:
        log.warning("run %s: slot %s already has its run; not firing it again", parent.id, stamp)
        return None
    return child.id


def advance(session: Session, run: Run) -> None:
    """React to a change of the controller or of one of its children.

    The caller holds the controller's row. A stopping controller ends its schedule; a slot
    waiting on dependsOnPast is looked at again at once; a controller whose schedule has ended
    ends itself once every child is done.
    """
    if run.status not in (S.RUNNING, S.STOPPING):  # not started yet, or ended already
        return
    row = schedule_of(session, run.id, lock=True)
    if row is not None:
        if run.status == S.STOPPING and row.state != ScheduleState.ENDED:
            sync.end(row, STOPPED_WHY)
        elif row.state == ScheduleState.ACTIVE and row.reason.startswith("dependsOnPast"):
            # The waiting slot was due already: due again now, not after the recheck delay.
            row.next_fire_at = row.next_slot_at
    ended = row.state == ScheduleState.ENDED if row is not None else _ended(session, run.id)
    if ended or run.status == S.STOPPING:
        _finish(session, run, row)


def _ended(session: Session, run_id: int) -> bool:
    """The schedule's state as committed, when a scheduler holds its row."""
    found = session.scalar(select(ScheduleRow.state).where(ScheduleRow.run_id == run_id))
    return found is None or found == ScheduleState.ENDED


def _finish(session: Session, run: Run, row: ScheduleRow | None) -> None:
    """End the controller by Polyaxon's pipeline rule, once no child is live."""
    statuses = list(session.scalars(select(Run.status).where(Run.parent_id == run.id)))
    ending = policies.pipeline_end(run.status == S.STOPPING, statuses)
    if ending is None:
        return
    status, _ = ending
    counts = Counter(str(status) for status in statuses)
    summary = ", ".join(f"{counts[name]} {name}" for name in sorted(counts))
    fired = f"{len(statuses)} fired run(s): {summary}" if statuses else "no run fired"
    ended = f"; the schedule ended: {row.reason}" if row is not None and row.reason else ""
    reason = "StopRequested" if run.status == S.STOPPING else "ScheduleDone"
    lifecycle.transition(session, run, status, reason, f"{fired}{ended}")


def children(session: Session, run_id: int) -> list[dict[str, Any]]:
    """The controller's fired runs, oldest first: id, slot name and status."""
    rows = session.execute(
        select(Run.id, Run.op_name, Run.status).where(Run.parent_id == run_id).order_by(Run.id)
    )
    return [dict(row._mapping) for row in rows]
