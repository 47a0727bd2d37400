"""Approve a run that waits for it (`isApproved: false`): `POST /api/v1/runs/<uuid>/approve`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from ci import runtime
from ci.api import views
from ci.api.errors import ApiError, json_body
from ci.api.runs import get_run
from ci.runs import approval

blueprint = Blueprint("approvals", __name__, url_prefix="/api/v1")
MAX_NAME = 200


@blueprint.post("/runs/<uuid>/approve")
def approve(uuid: str) -> Any:
    """Let the run go; `{"by": "<who>"}` names the approver (default "api"). 409 unless it
    waits for approval."""
    who = _approver(json_body())
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid, lock=True)
        try:
            approval.approve(session, run, who)
        except approval.NotWaiting as exc:
            raise ApiError(409, str(exc)) from None
        return jsonify(views.run(run, rt.run_url(run.uuid))), 202


def _approver(body: Any) -> str:
    if body is None:
        return "api"
    if not isinstance(body, dict):
        raise ApiError(400, 'body: expected a JSON object such as {"by": "alice"}')
    who = body.get("by", "api")
    if not isinstance(who, str) or not who.strip() or len(who) > MAX_NAME:
        raise ApiError(422, f"by: expected the approver's name, a text of 1 to {MAX_NAME} chars")
    return who.strip()
