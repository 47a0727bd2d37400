"""The only writer of a delivery's status: the states it is born in and the moves it may make.

A processed delivery's settled state and its decisions are written together (`write_settled`):
on PostgreSQL one statement, the delivery's UPDATE a CTE of the decisions' INSERT, one round trip
of the few each delivery takes (tests/benchmarks/dispatch.py) where the ORM's flush takes one for
the delivery and another for its decisions. The delivery stays the ORM's row: what `settle` set on
it is handed back to the ORM as written, so its flush does not send it again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ci.store.db import Base, UTCDateTime, utcnow
from ci.store.models import Delivery
from schemas.status import DeliveryStatus

D = DeliveryStatus

# A delivery is stored waiting for a worker, or already settled: refused, or unreadable.
BORN: frozenset[DeliveryStatus] = frozenset({D.RECEIVED, D.REJECTED, D.MALFORMED})

TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    D.RECEIVED: frozenset({D.PROCESSED, D.MALFORMED, D.FAILED}),
    # Settled for good: processing it again is a redelivery, a new row of its own.
    D.PROCESSED: frozenset(),
    D.FAILED: frozenset(),
    D.MALFORMED: frozenset(),
    D.REJECTED: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, delivery_id: int | None, current: str | None, status: D) -> None:
        allowed = sorted(TRANSITIONS[D(current)] if current else BORN)
        start = f"go from {current} to" if current else "be stored as"
        super().__init__(
            f"delivery {delivery_id or '(new)'}: cannot {start} {status}; "
            f"allowed: {', '.join(allowed) or 'nothing'}"
        )
        self.current = D(current) if current else None
        self.status = status


def new(status: DeliveryStatus, **values: Any) -> dict[str, Any]:
    """The column values of a delivery stored as `status`: for an insert or `Delivery(...)`.

    One stored settled gets its `processed_at` now unless `values` say when.
    """
    status = D(status)
    if status not in BORN:
        raise IllegalTransition(None, None, status)
    if status != D.RECEIVED:
        values.setdefault("processed_at", utcnow())
    return {**values, "status": status}


def settle(delivery: Delivery, status: DeliveryStatus, reason: str) -> None:
    """Move a received delivery to where its processing ended, with the reason shown for it.

    The caller holds the delivery's row (loaded FOR UPDATE) inside its transaction.
    """
    status = D(status)
    if status not in TRANSITIONS[D(delivery.status)]:
        raise IllegalTransition(delivery.id, delivery.status, status)
    delivery.status = status
    delivery.reason = reason
    delivery.processed_at = utcnow()


_DECISIONS = Base.metadata.tables["decisions"]
# What settling a delivery writes.
SETTLED = ("status", "reason", "processed_at")
# Built once: the decisions go as one JSON array, so that any number of them is one statement,
# compiled once, rather than a multi-row VALUES compiled again for each count of rows. Its
# transaction's commit does not wait for the disk (the SET LOCAL, in the same query string):
# lost in a database crash with what else it wrote (its runs), the delivery is `received` again
# and out of the outbox, and the sweeper sends its task again; the webhook's own commit, which
# stored it, did wait. A later commit that waits (its run's start) flushes this one with it.
_WRITE = text(
    """
    SET LOCAL synchronous_commit TO OFF;
    WITH settled AS (
        UPDATE deliveries SET status = :status, reason = :reason, processed_at = :processed_at
        WHERE id = :delivery_id
    )
    INSERT INTO decisions (delivery_id, event_index, event, subscription_id, subscription_name,
                           matched, checks, run_id, created_at)
    SELECT :delivery_id, d.event_index, d.event, d.subscription_id, d.subscription_name,
           d.matched, d.checks, d.run_id, :processed_at
    FROM jsonb_to_recordset(:decisions) AS d(event_index integer, event jsonb,
        subscription_id integer, subscription_name text, matched boolean, checks jsonb,
        run_id integer, ordinal integer)
    ORDER BY d.ordinal
    """
).bindparams(
    bindparam("decisions", type_=JSONB),
    bindparam("processed_at", type_=UTCDateTime()),
)


def write_settled(session: Session, delivery: Delivery, decisions: list[dict[str, Any]]) -> None:
    """Write `delivery` as settled and its `decisions` (rows of `decisions`, in order), with
    whatever else the session holds."""
    if not decisions or session.get_bind().dialect.name != "postgresql":
        session.flush()
        if decisions:
            session.connection().execute(insert(_DECISIONS), decisions)
        return
    values = {name: getattr(delivery, name) for name in SETTLED}
    rows = [{**row, "ordinal": n} for n, row in enumerate(decisions)]
    session.connection().execute(_WRITE, {**values, "delivery_id": delivery.id, "decisions": rows})
    for name, value in values.items():
        set_committed_value(delivery, name, value)
    session.flush()  # what else is pending: the runs a concurrency group moved
