"""The only writer of a schedule's state (a subscription's or a run's): active, paused with
its subscription, or ended."""

from __future__ import annotations

from ci.store.models import Schedule
from schemas.status import ScheduleState

S = ScheduleState

TRANSITIONS: dict[ScheduleState, frozenset[ScheduleState]] = {
    # A changed entry starts afresh, whatever it was; syncing a paused subscription again
    # pauses its schedules again.
    S.ACTIVE: frozenset({S.ACTIVE, S.PAUSED, S.ENDED}),
    S.PAUSED: frozenset({S.ACTIVE, S.PAUSED, S.ENDED}),
    # Only a changed entry brings an ended schedule back; pausing leaves it ended.
    S.ENDED: frozenset({S.ACTIVE}),
}


class IllegalTransition(Exception):
    def __init__(self, row: Schedule, state: ScheduleState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[S(row.state)])) or "nothing"
        owner = f"subscription {row.subscription_id}"
        if row.run_id is not None:
            owner = f"run {row.run_id}"
        super().__init__(
            f"schedule {row.entry} of {owner}: cannot go from "
            f"{row.state} to {state}; allowed: {allowed}"
        )
        self.current = S(row.state)
        self.state = state


def move(row: Schedule, state: ScheduleState, reason: str = "") -> None:
    """Put the schedule in `state`, with the reason shown beside it.

    A row not yet flushed has no state: it may start in any. A paused or ended schedule is
    never due, so its `next_fire_at` is cleared; an active one's is the caller's to set.
    """
    state = S(state)
    if row.state is not None and state not in TRANSITIONS[S(row.state)]:
        raise IllegalTransition(row, state)
    row.state, row.reason = state, reason
    if state != S.ACTIVE:
        row.next_fire_at = None
