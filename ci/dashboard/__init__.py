"""The dashboard: server-rendered pages over the rows the API serves, drawn with vendored JS.

Pages take the login session (ci.api.access); a page's own JSON and server-sent-event routes
live beside it under the same path, because the session cookie never reaches /api/. Every
script and style is served from static/ (vendored with its licence): users run Axon inside
networks without internet, so a page never loads from another origin.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Flask

from ci.dashboard import assets, projects

# Each page module owns one blueprint; the app registers them in this order.
BLUEPRINTS: tuple[Blueprint, ...] = (assets.blueprint, projects.blueprint)

# The header's links, as (endpoint, label), left to right.
NAV: tuple[tuple[str, str], ...] = (("projects.index", "Projects"),)


def project_link(name: str) -> str:
    return f"/projects/{quote(name, safe='')}/runs"


def init_app(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.add_template_global(lambda: NAV, "nav_links")
    app.add_template_global(project_link)
