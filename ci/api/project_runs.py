"""REST API for runs started by hand: from a polyaxonfile, and as a restart, resume or copy.

`POST /api/v1/projects/<project>/runs` takes a JSON object (`content`: the polyaxonfile as
YAML text or a parsed document; optional `presets`, `params`, `name`, `actor`) or the
polyaxonfile itself as the body. `POST /api/v1/runs/<uuid>/restart|resume|copy` take an
optional `{"params": {...}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, jsonify, request

from ci import runtime
from ci.api import views
from ci.api.errors import ApiError, json_body
from ci.api.resources import get_project
from ci.api.runs import get_run
from ci.compile.refs import ref_options
from ci.runs import cloning, manual
from ci.store.db import after_commit
from ci.store.models import Run
from schemas.status import RunStatus

blueprint = Blueprint("project_runs", __name__, url_prefix="/api/v1")
MAX_ACTOR = 128


@blueprint.post("/projects/<project_name>/runs")
def create_run(project_name: str) -> Any:
    rt = runtime.get()
    asked = _manual_request()
    spec, kind = manual.prepare(asked, ref_options(rt.settings), rt.settings.runner, rt.settings)
    with rt.db.session() as session:
        project = get_project(session, project_name)
        run = manual.create(session, project, spec, kind, asked.actor, rt.settings.runner)
        _start_after_commit(session, run)
        return jsonify(views.run(run, rt.run_url(run.uuid))), 201


@blueprint.post("/runs/<uuid>/restart")
def restart(uuid: str) -> Any:
    return _clone(uuid, cloning.RESTART)


@blueprint.post("/runs/<uuid>/copy")
def copy(uuid: str) -> Any:
    return _clone(uuid, cloning.COPY)


@blueprint.post("/runs/<uuid>/resume")
def resume(uuid: str) -> Any:
    rt = runtime.get()
    params, actor = _clone_request()
    with rt.db.session() as session:
        run = get_run(session, uuid, lock=True)
        try:
            cloning.resume(rt, session, run, params, actor)
        except cloning.Refused as exc:
            raise ApiError(exc.status, str(exc)) from None
        _start_after_commit(session, run)
        return jsonify(views.run(run, rt.run_url(run.uuid))), 202


def _clone(uuid: str, kind: str) -> Any:
    rt = runtime.get()
    params, actor = _clone_request()
    with rt.db.session() as session:
        original = get_run(session, uuid)
        run = cloning.clone(rt, session, original, kind, params, actor)
        _start_after_commit(session, run)
        return jsonify(views.run(run, rt.run_url(run.uuid))), 201


def _start_after_commit(session: Any, run: Run) -> None:
    if run.status in (RunStatus.CREATED, RunStatus.COMPILED):
        run_id = run.id
        after_commit(session, lambda: runtime.enqueue("axon.start_run", run_id))


def _manual_request() -> manual.ManualRun:
    if not request.is_json:
        text = request.get_data()
        if not text.strip():
            raise ApiError(400, "expected a polyaxonfile, or a JSON object with `content`")
        return manual.ManualRun(content=text)
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object body")
    content = data.get("content")
    if not isinstance(content, str | dict) or not content:
        raise _invalid("content", "required: the polyaxonfile, as YAML text or a document")
    presets = data.get("presets") or []
    if not isinstance(presets, list) or not all(isinstance(p, str | dict) for p in presets):
        raise _invalid("presets", "expected a list of presets, each YAML text or a document")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise _invalid("name", "expected a non-empty string")
    return manual.ManualRun(
        content=content,
        presets=presets,
        params=_params(data.get("params")),
        name=name.strip() if name else None,
        actor=_actor(data.get("actor")),
    )


def _clone_request() -> tuple[dict[str, Any], str]:
    data = json_body() if request.get_data().strip() else {}
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object body, or none")
    return _params(data.get("params")), _actor(data.get("actor"))


def _params(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise _invalid("params", "expected an object of param name to value")
    return dict(value)


def _actor(value: Any) -> str:
    """Who started the run, as the client names them (the API token names nobody)."""
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_ACTOR]
    return "api"


def _invalid(path: str, reason: str) -> ApiError:
    return ApiError(
        422, f"{path}: {reason}", errors=[{"path": path, "reason": reason, "line": None}]
    )
