"""The only writer of a delivery's status: the states it is born in and the moves it may make."""

from __future__ import annotations

from typing import Any

from ci.store.db import utcnow
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
