"""`POST /api/v1/check`: what `axon check` does, for editors and pipelines that speak HTTP."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from ci import runtime
from ci.api.errors import ApiError
from ci.cli.spec import check_operation, compiled_run, load_text
from ci.compile.refs import ref_options
from schemas.errors import SpecError, SpecErrors
from schemas.spec_schema import json_schema

blueprint = Blueprint("specs", __name__, url_prefix="/api/v1")


@blueprint.post("/check")
def check() -> Any:
    """Validate and compile a polyaxonfile (YAML or JSON body); 422 lists every error.

    References are followed as a run follows them: a pathRef only inside the specs directory
    (none configured: refused), since the body is no file of the server's to be relative to.
    """
    text = request.get_data()
    if not text.strip():
        raise ApiError(400, "expected a polyaxonfile as the request body")
    options = ref_options(runtime.get().settings)
    try:
        runs = check_operation(load_text(text, "<request body>"), **options)
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    return jsonify({"runs": [compiled_run(run) for run in runs]})


@blueprint.get("/schema")
def schema() -> Any:
    """The JSON Schema of the spec, as `axon schema` prints it."""
    return jsonify(json_schema())
