"""The OpenAPI 3.1 document of the REST API, generated from the app: `GET /api/v1/openapi.json`.

Features: paths, methods and path parameters come from the app's URL map (apispec with its
Flask plugin's rule conversion); what each operation takes and answers from
ci.api.openapi_operations; the shapes from ci.api.openapi_schemas. Every operation answers
any error as an RFC 9457 problem document (ci.api.errors).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, jsonify
from werkzeug.routing import IntegerConverter, PathConverter, Rule

from ci.api.openapi_operations import OPERATIONS
from ci.api.openapi_schemas import components as schema_components
from ci.api.openapi_schemas import ref

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")
PREFIX = "/api/v1/"
METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM_TYPES = ("application/problem+json", "application/json")
DESCRIPTION = (
    "Axon's REST API. Send `Authorization: Bearer <token>`. Lists answer a JSON array and "
    "take `limit` and `offset`; errors answer `application/problem+json` naming the field "
    "and the reason."
)


def build(app: Flask) -> dict[str, Any]:
    """The document for `app`'s routes under /api/v1."""
    spec = APISpec(
        title="Axon",
        version=version("axon"),
        openapi_version="3.1.0",
        plugins=[FlaskPlugin()],
        info={"description": DESCRIPTION},
        servers=[{"url": "/"}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in schema_components().items():
        spec.components.schema(name, schema)
    spec.components.response(
        "Problem",
        {
            "description": "An error, naming the field and the reason where one is at fault",
            "content": {media: {"schema": ref("Problem")} for media in PROBLEM_TYPES},
        },
    )
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule.startswith(PREFIX):
            # The plugin finds the view's rule and turns `<int:id>` into `{id}`.
            spec.path(
                view=app.view_functions[rule.endpoint],
                app=app,
                operations=_operations(rule, app.view_functions[rule.endpoint]),
                parameters=_path_parameters(rule),
            )
    return spec.to_dict()


def undocumented(app: Flask) -> list[str]:
    """Endpoints under /api/v1 with no shapes declared (the document describes them as
    answering some JSON, or a problem)."""
    return sorted(
        {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX)}
        - set(OPERATIONS)
    )


def _operations(rule: Rule, view: Any) -> dict[str, Any]:
    declared = OPERATIONS.get(rule.endpoint, {})
    found: dict[str, Any] = {}
    for method in METHODS:
        if method.upper() in (rule.methods or ()):
            operation = declared.get(method) or _undeclared(view)
            operation = {**operation, "operationId": f"{rule.endpoint}.{method}"}
            operation["tags"] = [rule.endpoint.split(".")[0]]
            operation["responses"] = {
                **operation["responses"],
                "default": {"$ref": "#/components/responses/Problem"},
            }
            found[method] = operation
    return found


def _undeclared(view: Any) -> dict[str, Any]:
    """An operation known only from its route: some JSON on success, a problem otherwise."""
    summary = (view.__doc__ or view.__name__.replace("_", " ")).strip().splitlines()[0]
    answer = {"description": summary, "content": {"application/json": {"schema": {}}}}
    return {"summary": summary, "responses": {"2XX": answer}}


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    found = []
    for name in sorted(rule.arguments, key=rule.rule.index):
        converter = rule._converters.get(name)
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": 0}
        elif not isinstance(converter, PathConverter):
            schema["pattern"] = "^[^/]+$"  # one segment of the path
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


@blueprint.get("/openapi.json", endpoint="document")
def document() -> Any:
    return jsonify(build(current_app))
