"""REST API for webhook deliveries: what came in, what was decided and why, and redelivery."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from ci import runtime
from ci.agent import outbox
from ci.api import views
from ci.api.errors import ApiError, limit_param
from ci.intake import delivery_state
from ci.store.db import utcnow
from ci.store.models import Delivery
from schemas.status import DeliveryStatus

blueprint = Blueprint("deliveries", __name__, url_prefix="/api/v1")


@blueprint.get("/deliveries")
def list_deliveries() -> Any:
    limit = limit_param()
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if request.args.get("status"):
        query = query.where(Delivery.status == request.args["status"])
    with runtime.get().db.session() as session:
        return jsonify([views.delivery(d, full=False) for d in session.scalars(query)])


@blueprint.get("/deliveries/<int:delivery_id>")
def show_delivery(delivery_id: int) -> Any:
    with runtime.get().db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise ApiError(404, f"no delivery {delivery_id}")
        return jsonify(views.delivery(delivery))


@blueprint.post("/deliveries/<int:delivery_id>/redeliver")
def redeliver(delivery_id: int) -> Any:
    """Process a stored delivery again as a new one: its runs start again."""
    with runtime.get().db.session() as session:
        original = session.get(Delivery, delivery_id)
        if original is None:
            raise ApiError(404, f"no delivery {delivery_id}")
        if original.status == DeliveryStatus.REJECTED:
            raise ApiError(
                409, f"delivery {delivery_id} was rejected ({original.reason}); not redelivered"
            )
        now = utcnow()
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
                received_at=now,
            )
        )
        session.add(copy)
        session.flush()
        outbox.notify(session)
        return jsonify(views.delivery(copy, full=False)), 202
