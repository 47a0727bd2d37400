"""The dashboard's scripts and styles, ours and vendored, served from this package."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint(
    "assets", __name__, static_folder="static", static_url_path="/static/dashboard"
)
