"""The routes a preset owner (a project, an org) shares: create, show, replace, delete.

Both owners keep the same documents under the same rules; only where a preset lives and how its
owner is found differ, so each blueprint registers these with its own `PresetOwner`. Listing
differs (a project also lists what it inherits) and stays with each blueprint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from flask import Blueprint, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci import runtime
from ci.api.errors import ApiError
from ci.api.preset_documents import fields, invalid, replacement, view
from ci.api.resources import body, commit
from ci.store.models import OrgPreset, Preset


@dataclass(frozen=True)
class PresetOwner:
    """Where an owner's presets live: `model` rows whose `column` holds the id of the owner
    `find` returns for the URL's owner name; `word` names the owner in a 404."""

    model: type[Preset] | type[OrgPreset]
    column: str
    find: Callable[[Session, str], Any]
    word: str

    def preset(self, session: Session, owner_name: str, name: str) -> Preset | OrgPreset:
        owner = self.find(session, owner_name)
        model = self.model
        query = select(model).where(getattr(model, self.column) == owner.id, model.name == name)
        row = cast("Preset | OrgPreset | None", session.scalar(query))
        if row is None:
            raise ApiError(404, f"no preset named {name!r} in {self.word} {owner_name!r}")
        return row


def register(blueprint: Blueprint, owner: PresetOwner, endpoint: str) -> None:
    """Add `create_<endpoint>`, `show_<endpoint>`, `change_<endpoint>` and `delete_<endpoint>`
    to `blueprint`, whose URL prefix has one variable: the owner's name."""

    def create(**url: str) -> Any:
        (owner_name,) = url.values()
        data = body()
        name = data.get("name")
        if not isinstance(name, str):
            raise invalid("name", "required, a non-empty string")
        document, default = fields(data, name)
        with runtime.get().db.session() as session:
            found = owner.find(session, owner_name)
            row = owner.model(name=name, document=document, is_default=default)
            setattr(row, owner.column, found.id)
            session.add(row)
            commit(session, f"preset {name!r}")
            return jsonify(view(row)), 201

    def show(name: str, **url: str) -> Any:
        (owner_name,) = url.values()
        with runtime.get().db.session() as session:
            return jsonify(view(owner.preset(session, owner_name, name)))

    def change(name: str, **url: str) -> Any:
        (owner_name,) = url.values()
        document, default = replacement(name)
        with runtime.get().db.session() as session:
            row = owner.preset(session, owner_name, name)
            row.document, row.is_default = document, default
            session.flush()
            return jsonify(view(row))

    def delete(name: str, **url: str) -> Any:
        (owner_name,) = url.values()
        with runtime.get().db.session() as session:
            session.delete(owner.preset(session, owner_name, name))
        return "", 204

    blueprint.add_url_rule("/presets", f"create_{endpoint}", create, methods=["POST"])
    blueprint.add_url_rule("/presets/<name>", f"show_{endpoint}", show, methods=["GET"])
    blueprint.add_url_rule("/presets/<name>", f"change_{endpoint}", change, methods=["PUT"])
    blueprint.add_url_rule("/presets/<name>", f"delete_{endpoint}", delete, methods=["DELETE"])
