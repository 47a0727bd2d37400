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
from ci.api.errors import ApiError, page_params
from ci.api.presets import fields, invalid, replacement, view
from ci.api.resources import body, commit
from ci.store.models import Organization, OrgPreset

blueprint = Blueprint("org_presets", __name__, url_prefix="/api/v1/orgs/<org_name>")


def _org(session: Session, org_name: str) -> Organization:
    row = session.scalar(select(Organization).where(Organization.name == org_name))
    if row is None:
        raise ApiError(404, f"no organization named {org_name!r}")
    return row


def _get(session: Session, org_name: str, name: str) -> OrgPreset:
    org = _org(session, org_name)
    row = session.scalar(
        select(OrgPreset).where(OrgPreset.org_id == org.id, OrgPreset.name == name)
    )
    if row is None:
        raise ApiError(404, f"no preset named {name!r} in organization {org_name!r}")
    return row


@blueprint.post("/presets")
def create_org_preset(org_name: str) -> Any:
    data = body()
    name = data.get("name")
    if not isinstance(name, str):
        raise invalid("name", "required, a non-empty string")
    document, default = fields(data, name)
    with runtime.get().db.session() as session:
        org = _org(session, org_name)
        row = OrgPreset(org_id=org.id, name=name, document=document, is_default=default)
        session.add(row)
        commit(session, f"preset {name!r}")
        return jsonify(view(row)), 201


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


@blueprint.get("/presets/<name>")
def show_org_preset(org_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        return jsonify(view(_get(session, org_name, name)))


@blueprint.put("/presets/<name>")
def change_org_preset(org_name: str, name: str) -> Any:
    document, default = replacement(name)
    with runtime.get().db.session() as session:
        row = _get(session, org_name, name)
        row.document, row.is_default = document, default
        session.flush()
        return jsonify(view(row))


@blueprint.delete("/presets/<name>")
def delete_org_preset(org_name: str, name: str) -> Any:
    with runtime.get().db.session() as session:
        session.delete(_get(session, org_name, name))
    return "", 204
