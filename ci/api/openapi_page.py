"""The API's docs page: the operations of the OpenAPI document, for a signed-in browser.

The login session never reaches /api/, so the page and a copy of the document it is drawn from
are served here, beside the other pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from ci.api import openapi

blueprint = Blueprint("api_docs", __name__, url_prefix="/docs/api")


@dataclass(frozen=True)
class Listed:
    """One operation as the page lists it."""

    method: str
    path: str
    summary: str
    tag: str
    answers: list[str]
    takes: str | None
    query: list[str]


def operations(document: dict[str, Any]) -> list[Listed]:
    found = []
    for path, item in document["paths"].items():
        for method in openapi.METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            found.append(
                Listed(
                    method=method.upper(),
                    path=path,
                    summary=operation.get("summary", ""),
                    tag=operation.get("tags", ["other"])[0],
                    answers=[code for code in operation["responses"] if code != "default"],
                    takes=", ".join(body) or None,
                    query=[
                        p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                    ],
                )
            )
    return found


@blueprint.get("/")
def page() -> Any:
    document = openapi.build(current_app)
    listed = operations(document)
    tags = sorted({op.tag for op in listed})
    return render_template("api_docs.html", document=document, operations=listed, tags=tags)


@blueprint.get("/openapi.json")
def document() -> Any:
    return jsonify(openapi.build(current_app))
