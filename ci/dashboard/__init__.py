"""The dashboard: server-rendered pages over the rows the API serves, drawn with vendored JS.

Pages take the login session (ci.api.access); a page's own JSON and server-sent-event routes
live beside it under the same path, because the session cookie never reaches /api/. Every
script and style is served from static/ (vendored with its licence): users run Axon inside
networks without internet, so a page never loads from another origin.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Flask

from ci.api import openapi_page
from ci.dashboard import (
    assets,
    compare,
    config_pages,
    connections_page,
    deliveries_page,
    pipeline_page,
    projects,
    quotas_page,
    run_page,
    runs_list,
    search_page,
)

# Each page module owns one blueprint; the app registers them in this order.
BLUEPRINTS: tuple[Blueprint, ...] = (
    assets.blueprint,
    projects.blueprint,
    runs_list.blueprint,
    run_page.blueprint,
    deliveries_page.blueprint,
    config_pages.blueprint,
    compare.blueprint,
    search_page.blueprint,
    pipeline_page.blueprint,
    openapi_page.blueprint,
    quotas_page.blueprint,
    connections_page.blueprint,
)

# The header's links, as (endpoint, label), left to right.
NAV: tuple[tuple[str, str], ...] = (
    ("projects.index", "Projects"),
    ("deliveries_page.index", "Deliveries"),
    ("api_docs.page", "API"),
)

# A project's own pages, as (endpoint, label): each links to the others under its heading.
PROJECT_NAV: tuple[tuple[str, str], ...] = (
    ("config_pages.subscriptions", "Subscriptions"),
    ("config_pages.sources", "Sources"),
    ("quotas_page.page", "Quotas"),
    ("connections_page.page", "Connections"),
)


def project_link(name: str) -> str:
    return f"/projects/{quote(name, safe='')}/runs"


def init_app(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.add_template_global(lambda: NAV, "nav_links")
    app.add_template_global(project_link)
    app.add_template_global(lambda: PROJECT_NAV, "project_nav_links")
