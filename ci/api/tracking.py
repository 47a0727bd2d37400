"""The tracking endpoints a job reports to (`axon_tracking`): inputs, outputs, metric series,
system metrics, tags, description, progress, events and artifact uploads.

Each write takes the run's own token (which the job is given) or the API token, and nothing
else: the blueprint is open in `ci.api.access` because it checks its own credentials. What a
job reports is final once its run is done; tags and the description stay editable.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError
from ci.api.runs import get_run
from ci.artifacts import store
from ci.identity import enforce
from ci.reporting import progress
from ci.runs import metrics, tracking
from ci.store.db import after_commit
from ci.store.models import Run
from schemas.limits import document_problem, nesting_problem
from schemas.status import DONE

blueprint = Blueprint("tracking", __name__, url_prefix="/api/v1")


def authorize(uuid: str) -> None:
    """The run's own token or the API token; ApiError(401) otherwise."""
    admitted = enforce.current()
    if admitted is not None and admitted.kind == "user":
        return  # a user's token, which the guard found may write to this run's project
    rt = runtime.get()
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and rt.check_run_token(uuid, token):
        return
    api_token = rt.settings.api_token
    if token and api_token and hmac.compare_digest(token.encode(), api_token.encode()):
        return
    raise ApiError(
        401, "a valid run token or the API token is required (Authorization: Bearer <token>)"
    )


def tracking_body() -> Any:
    """The request's JSON, NaN and infinities (JSON's `NaN`/`Infinity` words, which Python
    clients write) turned into the strings "NaN", "Infinity", "-Infinity"."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, "body: nested too deeply") from None
    too_deep = nesting_problem(data)
    if too_deep:
        raise ApiError(400, f"body: {too_deep}")
    data = tracking.finite_json(data)
    found = document_problem(data)
    if found is not None:
        path, reason = found
        raise ApiError(422, f"{path or 'body'}: {reason}")
    return data


def _write(uuid: str, what: str, change: Callable[[Session, Run], Any], final: bool = True) -> Any:
    """Run `change` on the locked run (whose credentials the caller checked) after, with
    `final`, its status was; a refusal of the change becomes its status and reason."""
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid, lock=True)
        if final and run.status in DONE:
            raise ApiError(409, f"run {uuid} is {run.status}; its {what} are final")
        try:
            return change(session, run)
        except metrics.MetricsError as exc:
            raise ApiError(exc.status, str(exc)) from None


def _report(
    uuid: str,
    what: str,
    key: str,
    apply: Callable[[Session, Run, Any], Any],
    final: bool = True,
) -> Any:
    """A report whose body one `ci.runs.tracking` function applies; answered as `{key: ...}`."""
    authorize(uuid)
    body = tracking_body()
    return _write(
        uuid, what, lambda session, run: jsonify({key: apply(session, run, body)}), final=final
    )


def _merged(field: str) -> Callable[[Session, Run, Any], Any]:
    def apply(session: Session, run: Run, body: Any) -> Any:
        reset = isinstance(body, dict) and body.get("reset") is True
        return tracking.merge(run, field, body, reset)

    return apply


@blueprint.post("/runs/<uuid>/outputs")
def log_outputs(uuid: str) -> Any:
    """`{"outputs": {...}, "reset": false}`: merged into the run's outputs."""
    return _report(uuid, "outputs", "outputs", _merged("outputs"))


@blueprint.post("/runs/<uuid>/inputs")
def log_inputs(uuid: str) -> Any:
    """`{"inputs": {...}, "reset": false}`: params the job chose itself, merged into its
    inputs (where run queries `params.lr:0.1` find them)."""
    return _report(uuid, "inputs", "inputs", _merged("inputs"))


@blueprint.post("/runs/<uuid>/metrics")
def log_metrics(uuid: str) -> Any:
    """`{"metrics": {"loss": 0.3}, "step": 10, "time": t}` or a list of such (ci.runs.metrics).
    The latest values are mirrored into the outputs, and the run's parent is woken to judge
    its early stopping."""
    authorize(uuid)
    try:
        reports = metrics.parse(tracking_body())
    except metrics.MetricsError as exc:
        raise ApiError(exc.status, str(exc)) from None

    def change(session: Session, run: Run) -> Any:
        latest = metrics.record(session, run, reports)
        tracking.mirror_metrics(run, latest)
        if tracking.notes(session, run)["progress"] is None:  # its steps are its progress
            _report_progress(session, run)
        if run.parent_id is not None:
            parent_id = run.parent_id
            after_commit(session, lambda: runtime.enqueue("axon.advance_pipeline", parent_id))
        shown = {name: metrics.jsonable(value) for name, value in latest.items()}
        return jsonify({"recorded": len(reports), "metrics": shown})

    return _write(uuid, "metrics", change)


@blueprint.post("/runs/<uuid>/system")
def log_system(uuid: str) -> Any:
    """Samples of the job's resources, `{"metrics": {"cpu_percent": 93.0}, "time": t}` or a
    list of such; each goes after the one before it (no step needed)."""
    authorize(uuid)
    try:
        reports = metrics.parse(tracking_body())
    except metrics.MetricsError as exc:
        raise ApiError(exc.status, str(exc)) from None

    def change(session: Session, run: Run) -> Any:
        metrics.record(session, run, reports, kind="system")
        return jsonify({"recorded": len(reports)})

    return _write(uuid, "system metrics", change)


@blueprint.post("/runs/<uuid>/tags")
def log_tags(uuid: str) -> Any:
    return _report(uuid, "tags", "tags", tracking.set_tags, final=False)


@blueprint.post("/runs/<uuid>/description")
def log_description(uuid: str) -> Any:
    return _report(uuid, "description", "description", tracking.set_description, final=False)


@blueprint.post("/runs/<uuid>/progress")
def log_progress(uuid: str) -> Any:
    """Kept as the run's progress, and told to the targets that show it in place (throttled,
    ci.reporting.progress)."""

    def apply(session: Session, run: Run, body: Any) -> Any:
        kept = tracking.set_progress(session, run, body)
        _report_progress(session, run)
        return kept

    return _report(uuid, "progress reports", "progress", apply)


def _report_progress(session: Session, run: Run) -> None:
    run_id = run.id
    after_commit(session, lambda: progress.ask_and_publish(runtime.get(), run_id))


@blueprint.post("/runs/<uuid>/job-events")
def log_events(uuid: str) -> Any:
    return _report(uuid, "events", "recorded", tracking.add_events)


@blueprint.put("/runs/<uuid>/artifacts/<path:path>")
def upload_artifact(uuid: str, path: str) -> Any:
    """The request body is the file; it replaces one of the same path."""
    authorize(uuid)
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        if run.status in DONE:
            raise ApiError(409, f"run {uuid} is {run.status}; its artifacts are final")
    most = rt.settings.artifact_max_bytes
    if request.content_length is not None and request.content_length > most:
        raise ApiError(413, f"an artifact has at most {most} bytes")
    request.max_content_length = most  # beyond the webhook cap the app has
    try:
        size = store.for_settings(rt.settings).put(uuid, path, request.stream, most)
    except store.ArtifactError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except OSError as exc:
        raise ApiError(503, f"the artifacts store cannot be reached: {exc}") from exc
    return jsonify({"path": store.clean_path(path), "size": size}), 201
