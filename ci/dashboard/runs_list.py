"""A project's runs: filtered with the run query language, sorted, in pages, statuses live.

`/projects/<name>/runs?query=&sort=&offset=&limit=` reads its parameters as `GET /api/v1/runs`
does (ci.runs.query and the same limit and offset checks), so a filter that works in one works
in the other; a term that cannot be read is shown on the page with its reason, answered 400.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context, url_for
from sqlalchemy import select

from ci import runtime
from ci.api.errors import ApiError, limit_param
from ci.api.runs import offset_param
from ci.dashboard.runs_stream import MOST_IDS, events, parse_ids
from ci.dashboard.runs_table import Listing, duration_text, listing, metric, trigger
from ci.runs.query_terms import QueryError
from ci.store.models import Project
from schemas.status import DONE

blueprint = Blueprint("runs_list", __name__)
PAGE_SIZE = 50
MOST_PER_PAGE = 500


@blueprint.get("/projects/<name>/runs")
def index(name: str) -> Any:
    with runtime.get().db.session() as session:
        project = session.scalar(select(Project).where(Project.name == name))
        if project is None:
            return render_template("runs_list.html", missing=name), 404
        asked = _Asked(project.name)
        listed: Listing | None = None
        try:
            asked.read_pages()
            listed = listing(
                session, project.id, asked.query, asked.sort, asked.limit, asked.offset
            )
        except (QueryError, ApiError) as exc:
            asked.error = exc.message if isinstance(exc, ApiError) else str(exc)
        page = render_template(
            "runs_list.html",
            project=project,
            asked=asked,
            listed=listed,
            stream=_stream_url(project.name, listed),
            duration_text=duration_text,
            metric=metric,
            trigger=trigger,
            page_size=PAGE_SIZE,
        )
        return page, 400 if asked.error else 200


@blueprint.get("/projects/<name>/runs/stream")
def stream(name: str) -> Any:
    """Server-sent events with the statuses of `?ids=` (runs of this project) as they change."""
    rt = runtime.get()
    with rt.db.session() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == name))
    if project_id is None:
        raise ApiError(404, f"no project named {name!r}")
    try:
        uuids = parse_ids(request.args.get("ids", ""))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return Response(
        stream_with_context(events(rt.db, project_id, uuids)),
        mimetype="text/event-stream",
        # Proxies must pass each event on at once rather than keep it for a fuller buffer.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _stream_url(project: str, listed: Listing | None) -> str:
    """The status stream of the page's runs not yet done; none when every one is."""
    live = [run.uuid for run in listed.runs if run.status not in DONE] if listed else []
    if not live:
        return ""
    # A page of more runs than one stream takes follows its first ones.
    return url_for(".stream", name=project, ids=",".join(live[:MOST_IDS]))


class _Asked:
    """What the address asks for, and the addresses of the same list filtered, sorted or
    paged otherwise."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.query = request.args.get("query", "").strip()
        self.sort = request.args.get("sort", "").strip()
        self.limit, self.offset = PAGE_SIZE, 0
        self.error = ""

    def read_pages(self) -> None:
        self.limit = limit_param(default=PAGE_SIZE, most=MOST_PER_PAGE)
        self.offset = offset_param()

    def url(self, **changes: Any) -> str:
        wanted = {
            "query": self.query,
            "sort": self.sort,
            "limit": self.limit,
            "offset": 0,  # another filter or order starts again from its first page
            **changes,
        }
        defaults = {"query": "", "sort": "", "limit": PAGE_SIZE, "offset": 0}
        given = {key: value for key, value in wanted.items() if value != defaults[key]}
        return url_for(".index", name=self.project, **given)

    def page(self, step: int) -> str:
        return self.url(offset=max(0, self.offset + step * self.limit))

    def sort_url(self, field: str) -> str:
        """Ascending first; a second click on the same header turns it descending."""
        return self.url(sort=f"-{field}" if self.sort == field else field)

    def arrow(self, field: str) -> str:
        if self.sort == field:
            return "▲"
        if self.sort == f"-{field}" or (not self.sort and field == "created_at"):
            return "▼"
        return ""
