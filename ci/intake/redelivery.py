"""A stored delivery processed again as a new one, for the API and the dashboard alike."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from ci.agent import outbox
from ci.intake import delivery_state
from ci.store.db import utcnow
from ci.store.models import Delivery
from schemas.status import DeliveryStatus


class UnknownDelivery(LookupError):
    """No delivery has the id asked for."""


class NotRedeliverable(ValueError):
    """The delivery may not be processed again; the message says why."""


def redeliver(session: Session, delivery_id: int) -> Delivery:
    """A copy of delivery `delivery_id`, stored as received and announced to the outbox
    relay, so that its runs start again. The caller's transaction commits it."""
    original = session.get(Delivery, delivery_id)
    if original is None:
        raise UnknownDelivery(f"no delivery {delivery_id}")
    refused = redeliverable(original)
    if refused is not None:
        raise NotRedeliverable(refused)
    copy = Delivery(
        **delivery_state.new(
            DeliveryStatus.RECEIVED,
            source_id=original.source_id,
            provider=original.provider,
            # A key of its own: the original's would be deduplicated, and its runs kept.
            dedupe_key=f"redelivery:{uuid.uuid4().hex}",
            event_name=original.event_name,
            reason=f"redelivery of delivery {original.id}",
            headers=original.headers,
            body=original.body,
            body_size=original.body_size,
            received_at=utcnow(),
        )
    )
    session.add(copy)
    session.flush()
    outbox.notify(session)
    return copy


def redeliverable(delivery: Delivery) -> str | None:
    """Why `delivery` may not be redelivered, or None if it may."""
    if delivery.status == DeliveryStatus.REJECTED:
        # Its signature did not verify: processing it would trust what nobody vouched for.
        return f"delivery {delivery.id} was rejected ({delivery.reason}); not redelivered"
    return None
