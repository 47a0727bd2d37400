"""A project's configuration: its subscriptions with their recent decisions, and its sources
with the webhook URL to give the sender. A source's secret is never shown."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import yaml
from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import joinedload, load_only

from ci import runtime
from ci.api.errors import ApiError
from ci.api.resources import get_project
from ci.dashboard.row_pages import newest_first, numbered, page_url
from ci.store.models import Decision, Delivery, Run, Source, Subscription

blueprint = Blueprint("config_pages", __name__, url_prefix="/projects/<project_name>")
blueprint.add_app_template_global(page_url, "page_url")

PAGE_SIZE = 100
DECISIONS_SHOWN = 50
LEADING_KEYS = ("version", "kind", "name")
SOURCE_COLUMNS = (
    Source.id,
    Source.name,
    Source.provider,
    Source.allow_legacy_signatures,
    Source.created_at,
)


@blueprint.get("/subscriptions")
def subscriptions(project_name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        page = numbered(
            session,
            select(Subscription).where(Subscription.project_id == project.id),
            Subscription.name,
            PAGE_SIZE,
        )
        return render_template(
            "subscriptions.html", project=project, page=page, trigger_lines=trigger_lines
        )


@blueprint.get("/subscriptions/<name>")
def subscription(project_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        row = session.scalar(
            select(Subscription).where(
                Subscription.project_id == project.id, Subscription.name == name
            )
        )
        if row is None:
            raise ApiError(404, f"no subscription named {name!r} in project {project_name!r}")
        window = newest_first(
            session,
            select(Decision)
            .where(Decision.subscription_id == row.id)
            .options(
                joinedload(Decision.run).load_only(Run.uuid, Run.status),
                joinedload(Decision.delivery).load_only(Delivery.id, Delivery.received_at),
            ),
            Decision.id,
            DECISIONS_SHOWN,
        )
        return render_template(
            "subscription.html",
            project=project,
            subscription=row,
            triggers=trigger_lines(row.spec.get("on")),
            operation=_yaml(row.spec.get("operation")),
            document=_yaml(row.spec),
            window=window,
        )


@blueprint.get("/sources")
def sources(project_name: str) -> Any:
    public_url = runtime.get().settings.public_url.rstrip("/")
    with runtime.get().db.session() as session:
        project = get_project(session, project_name)
        # The secret column is never read: what a page does not load it cannot show.
        page = numbered(
            session,
            select(Source)
            .where(Source.project_id == project.id)
            .options(load_only(*SOURCE_COLUMNS)),
            Source.name,
            PAGE_SIZE,
        )
        shown = [
            {
                "name": source.name,
                "provider": source.provider,
                "url": f"{public_url}/webhooks/{source.provider}/{quote(source.name, safe='')}",
                "legacy": source.allow_legacy_signatures,
                "connection": source.connection.name if source.connection else None,
                "created_at": source.created_at,
            }
            for source in page.rows
        ]
        return render_template("sources.html", project=project, page=page, sources=shown)


def trigger_lines(on: Any) -> list[str]:
    """A subscription's `on:` as one line per event kind: `push: branches main; release/**`.

    Kinds and filters are sorted by name: PostgreSQL's JSONB keeps no order of its own."""
    if not isinstance(on, dict):
        return [_short(on)] if on else []
    lines = []
    for kind, filters in sorted(on.items()):
        if filters in (None, True, {}, []):
            lines.append(str(kind))
        elif isinstance(filters, dict):
            parts = [f"{k} {_short(v)}" for k, v in sorted(filters.items())]
            lines.append(f"{kind}: " + "; ".join(parts))
        else:
            lines.append(f"{kind}: {_short(filters)}")
    return lines


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_short(item) for item in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    return str(value)


def _yaml(value: Any) -> str:
    if value is None:
        return ""
    return yaml.safe_dump(_leading(value), sort_keys=False, allow_unicode=True, width=100)


def _leading(value: Any) -> Any:
    """`value` with each mapping's LEADING_KEYS first, as a polyaxonfile is written: JSONB
    stores keys shortest first, which would put `kind` and `name` anywhere."""
    if isinstance(value, dict):
        first = [k for k in LEADING_KEYS if k in value]
        rest = [k for k in value if k not in LEADING_KEYS]
        return {k: _leading(value[k]) for k in first + rest}
    if isinstance(value, list):
        return [_leading(item) for item in value]
    return value
