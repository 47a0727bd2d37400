"""The deliveries: every webhook request with what was decided for it and why, and redelivery."""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import groupby
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from ci import runtime
from ci.api.errors import ApiError
from ci.dashboard.row_pages import newest_first, numbered, page_url
from ci.identity import enforce
from ci.intake import redelivery
from ci.runs.dispatch import SCHEDULE
from ci.store.models import Decision, Delivery, Project, Run, Source, Subscription
from schemas.status import DeliveryStatus
from webhooks.registry import providers

blueprint = Blueprint("deliveries_page", __name__)
blueprint.add_app_template_global(page_url, "page_url")

PAGE_SIZE = 50
DECISIONS_PER_PAGE = 200
# Project names the filter suggests; any other can still be typed.
KNOWN_PROJECTS = 500
# The body as shown: a larger one is cut here, and one beyond PARSED_BYTES is not re-indented.
SHOWN_CHARS = 64 * 1024
PARSED_BYTES = 1024 * 1024
# Header names never shown, whatever a sender put in them; signatures are safe to show.
HIDDEN_HEADER_WORDS = ("token", "authorization", "cookie", "secret", "password")


@blueprint.get("/deliveries")
def index() -> Any:
    filters = _filters()
    with runtime.get().db.session() as session:
        window = newest_first(
            session,
            _filtered(select(Delivery).options(joinedload(Delivery.source)), filters),
            Delivery.id,
            PAGE_SIZE,
        )
        return render_template(
            "deliveries.html",
            window=window,
            filters=filters,
            runs=_runs_started(session, [d.id for d in window.rows]),
            projects=_project_names(session, window.rows),
            known_projects=session.scalars(
                enforce.only_readable(session, select(Project.name), Project.id)
                .order_by(Project.name)
                .limit(KNOWN_PROJECTS)
            ).all(),
            providers=[*providers.names(), SCHEDULE],
            statuses=[s.value for s in DeliveryStatus],
        )


@blueprint.get("/deliveries/<int:delivery_id>")
def show(delivery_id: int) -> Any:
    return _page(delivery_id)


@blueprint.post("/deliveries/<int:delivery_id>/redeliver")
def redeliver(delivery_id: int) -> Any:
    """The same redelivery as the API's: a new delivery row, then its page."""
    with runtime.get().db.session() as session:
        try:
            copy = redelivery.redeliver(session, delivery_id)
        except redelivery.UnknownDelivery as exc:
            raise ApiError(404, str(exc)) from exc
        except redelivery.NotRedeliverable as exc:
            refused = str(exc)
        else:
            return redirect(url_for("deliveries_page.show", delivery_id=copy.id), code=303)
    return _page(delivery_id, refused=refused, status=409)


def _page(delivery_id: int, refused: str | None = None, status: int = 200) -> Any:
    with runtime.get().db.session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise ApiError(404, f"no delivery {delivery_id}")
        decisions = numbered(
            session,
            select(Decision)
            .where(Decision.delivery_id == delivery.id)
            .options(joinedload(Decision.run).load_only(Run.uuid, Run.status)),
            Decision.id,
            DECISIONS_PER_PAGE,
        )
        events = [
            (index, list(rows))
            for index, rows in groupby(decisions.rows, key=lambda d: d.event_index)
        ]
        html = render_template(
            "delivery.html",
            delivery=delivery,
            project=_project_names(session, [delivery]).get(delivery.id),
            headers=shown_headers(delivery.headers or {}),
            body=shown_body(delivery),
            decisions=decisions,
            events=events,
            subscriptions=_subscription_pages(session, decisions.rows),
            cannot_redeliver=refused or redelivery.redeliverable(delivery),
            refused=refused,
        )
        return html, status


def _filters() -> dict[str, str]:
    filters = {k: request.args.get(k, "").strip() for k in ("project", "provider", "status")}
    if filters["status"] and filters["status"] not in set(DeliveryStatus):
        known = ", ".join(s.value for s in DeliveryStatus)
        raise ApiError(400, f"status: unknown {filters['status'][:40]!r}; known: {known}")
    return filters


def _filtered(query: Select[Any], filters: Mapping[str, str]) -> Select[Any]:
    with runtime.get().db.session() as session:
        readable = enforce.readable_sources(session)
    if readable is not None:
        query = query.where(Delivery.source_id.in_(readable))
    if filters["provider"]:
        query = query.where(Delivery.provider == filters["provider"])
    if filters["status"]:
        query = query.where(Delivery.status == filters["status"])
    if filters["project"]:
        project = select(Project.id).where(Project.name == filters["project"]).scalar_subquery()
        by_source = Delivery.source_id.in_(select(Source.id).where(Source.project_id == project))
        # A schedule's slot has no source: its project is that of the subscriptions it decided.
        by_decision = exists().where(
            Decision.delivery_id == Delivery.id,
            Decision.subscription_id.in_(
                select(Subscription.id).where(Subscription.project_id == project)
            ),
        )
        query = query.where(or_(by_source, by_decision))
    return query


def _runs_started(session: Session, delivery_ids: list[int]) -> dict[int, int]:
    if not delivery_ids:
        return {}
    rows = session.execute(
        select(Decision.delivery_id, func.count())
        .where(Decision.delivery_id.in_(delivery_ids), Decision.run_id.is_not(None))
        .group_by(Decision.delivery_id)
    )
    return {delivery_id: count for delivery_id, count in rows}


def _project_names(session: Session, deliveries: list[Delivery]) -> dict[int, str]:
    """Each delivery's project, through its source or, for a schedule's slot, its decisions."""
    found = {d.id: d.source.project.name for d in deliveries if d.source is not None}
    rest = [d.id for d in deliveries if d.source is None]
    if rest:
        rows = session.execute(
            select(Decision.delivery_id, Project.name)
            .join(Subscription, Subscription.id == Decision.subscription_id)
            .join(Project, Project.id == Subscription.project_id)
            .where(Decision.delivery_id.in_(rest))
        )
        found.update({delivery_id: name for delivery_id, name in rows})
    return found


def _subscription_pages(session: Session, decisions: list[Decision]) -> dict[int, str]:
    """The page of each decided subscription that still exists, by its id."""
    ids = {d.subscription_id for d in decisions if d.subscription_id is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Subscription.id, Subscription.name, Project.name)
        .join(Project, Project.id == Subscription.project_id)
        .where(Subscription.id.in_(ids))
    )
    return {
        sub_id: url_for("config_pages.subscription", project_name=project, name=name)
        for sub_id, name, project in rows
    }


def shown_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The headers to show, sorted; any that could carry a credential is left out."""
    return sorted(
        (name, value)
        for name, value in headers.items()
        if not any(word in name.lower() for word in HIDDEN_HEADER_WORDS)
    )


def shown_body(delivery: Delivery) -> dict[str, Any]:
    """The body as text to show: JSON re-indented (a form's `payload` field too), cut at
    SHOWN_CHARS, with its size as received."""
    raw = delivery.body or b""
    size = delivery.body_size if delivery.body_size is not None else len(raw)
    text = raw[: SHOWN_CHARS * 4].decode("utf-8", "replace")
    if len(raw) <= PARSED_BYTES:
        text = _indented(raw) or raw.decode("utf-8", "replace")
    return {
        "text": text[:SHOWN_CHARS],
        "cut": len(text) > SHOWN_CHARS,
        "size": size,
        "kept": len(raw),
    }


def _indented(raw: bytes) -> str | None:
    """`raw` as indented JSON, or None when it is not JSON."""
    text = raw.decode("utf-8", "replace")
    if text.startswith("payload="):  # GitHub's form content type
        text = (parse_qs(text).get("payload") or [""])[0]
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None
