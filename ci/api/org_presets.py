"""REST API for an org's presets: the same documents as a project's (ci.api.presets), named
by every project of the org; a project preset of the same name overrides one here, and an org
default is merged into every run of the org's projects.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api import preset_routes
from ci.api.errors import ApiError, page_params
from ci.api.preset_documents import view
from ci.store.models import Organization, OrgPreset

blueprint = Blueprint("org_presets", __name__, url_prefix="/api/v1/orgs/<org_name>")


def _org(session: Session, org_name: str) -> Organization:
    row = session.scalar(select(Organization).where(Organization.name == org_name))
    if row is None:
        raise ApiError(404, f"no organization named {org_name!r}")
    return row


preset_routes.register(
    blueprint, preset_routes.PresetOwner(OrgPreset, "org_id", _org, "organization"), "org_preset"
)


@blueprint.get("/presets")
def list_org_presets(org_name: str) -> Any:
    limit, offset = page_params()
    with runtime.get().db.session() as session:
        org = _org(session, org_name)
        rows = session.scalars(
            select(OrgPreset)
            .where(OrgPreset.org_id == org.id)
            .order_by(OrgPreset.name)
            .limit(limit)
            .offset(offset)
        )
        return jsonify([view(row) for row in rows])
