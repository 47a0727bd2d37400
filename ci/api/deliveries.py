"""REST API for webhook deliveries: what came in, what was decided and why, and redelivery."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from ci import runtime
from ci.api import views
from ci.api.errors import ApiError, page_params
from ci.identity import enforce
from ci.intake import redelivery
from ci.store.models import Delivery

blueprint = Blueprint("deliveries", __name__, url_prefix="/api/v1")


@blueprint.get("/deliveries")
def list_deliveries() -> Any:
    limit, offset = page_params()
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit).offset(offset)
    if request.args.get("status"):
        query = query.where(Delivery.status == request.args["status"])
    with runtime.get().db.session() as session:
        readable = enforce.readable_sources(session)
        if readable is not None:
            query = query.where(Delivery.source_id.in_(readable))
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
        try:
            copy = redelivery.redeliver(session, delivery_id)
        except redelivery.UnknownDelivery as exc:
            raise ApiError(404, str(exc)) from exc
        except redelivery.NotRedeliverable as exc:
            raise ApiError(409, str(exc)) from exc
        return jsonify(views.delivery(copy, full=False)), 202
