"""A run's artifacts read back with the API token: the listing and each file's download
(uploads are a tracking endpoint, `ci.api.tracking`)."""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify

from ci import runtime
from ci.api.errors import ApiError, page_params
from ci.api.runs import get_run
from ci.artifacts import store

blueprint = Blueprint("artifacts", __name__, url_prefix="/api/v1")


def unavailable(exc: OSError) -> ApiError:
    return ApiError(503, f"the artifacts store cannot be reached: {exc}")


@blueprint.get("/runs/<uuid>/artifacts")
def list_artifacts(uuid: str) -> Any:
    rt = runtime.get()
    limit, offset = page_params(default=1000, most=10000)
    with rt.db.session() as session:
        get_run(session, uuid)
    try:
        found = store.for_settings(rt.settings).files(uuid)[offset : offset + limit]
    except OSError as exc:
        raise unavailable(exc) from exc
    return jsonify([{"path": a.path, "size": a.size} for a in found])


@blueprint.get("/runs/<uuid>/artifacts/<path:path>")
def download_artifact(uuid: str, path: str) -> Any:
    return download(uuid, path)


def download(uuid: str, path: str) -> Response:
    """The run's artifact as an attachment, streamed from the store (the run page's link too)."""
    rt = runtime.get()
    with rt.db.session() as session:
        get_run(session, uuid)
    artifacts = store.for_settings(rt.settings)
    try:
        size = artifacts.size(uuid, path)
        blocks = artifacts.read(uuid, path)
    except store.ArtifactError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except OSError as exc:
        raise unavailable(exc) from exc
    name = quote(posixpath.basename(path))
    return Response(
        blocks,
        mimetype="application/octet-stream",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        },
    )
