"""A project's presets and its org's: partial operations merged at compile time, by name or
by default. A project preset overrides an org preset of the same name.

A preset is what Polyaxon's preset files hold (a queue, a runPatch with a node selector,
tolerations, resources, an environment, ...) with its own `patchStrategy`; merging follows
`ci.compile.patching`: post_merge (the default) lets the preset's values win, pre_merge lets the
operation's win, replace and isolation as Polyaxon defines them. A project's default presets are
merged into every operation first, then those the operation names in `presets:`.
"""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.compile.patching import dump
from ci.runs import profiles
from ci.store.models import OrgPreset, Preset, Project
from schemas.errors import SpecError, SpecErrors
from schemas.spec import V1Operation, load_operation

NAME_LIMIT = 128


class PresetInvalid(ValueError):
    """A preset that cannot be stored: the field and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def parse(name: str, document: Any) -> dict[str, Any]:
    """The preset `document` as stored: checked as a partial operation, camelCase keys."""
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LIMIT:
        raise PresetInvalid("name", f"required, a non-empty string of at most {NAME_LIMIT}")
    if not isinstance(document, dict | str):
        raise PresetInvalid("preset", "expected a preset document (a mapping or YAML text)")
    if isinstance(document, str):
        try:
            document = yaml.safe_load(document)
        except yaml.YAMLError as exc:
            raise PresetInvalid("preset", f"not YAML: {exc}") from None
        if not isinstance(document, dict):
            raise PresetInvalid("preset", "expected a mapping of operation fields")
    # Polyaxon's preset files may leave out what every preset is: a partial operation.
    document = {"version": 1.1, "kind": "operation", "isPreset": True, **document}
    try:
        op = load_operation(document, f"preset {name}", is_preset=True)
    except (SpecError, SpecErrors) as exc:
        errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
        first = errors[0]
        raise PresetInvalid(".".join(filter(None, ("preset", first.path))), first.reason) from None
    if op.presets:
        raise PresetInvalid("preset.presets", "a preset cannot name other presets")
    data = dump(op)
    data["isPreset"] = True
    return data


def rows_of(session: Session, project_id: int) -> list[Preset | OrgPreset]:
    """The presets a project's runs see, by name: its org's, each replaced by a project preset
    of the same name (default or not, as the project's says); org ones first, then by name."""
    org_id = session.scalar(select(Project.org_id).where(Project.id == project_id))
    own = session.scalars(
        select(Preset).where(Preset.project_id == project_id).order_by(Preset.name)
    ).all()
    inherited: list[Preset | OrgPreset] = []
    if org_id is not None:
        names = {row.name for row in own}
        inherited = [
            row
            for row in session.scalars(
                select(OrgPreset).where(OrgPreset.org_id == org_id).order_by(OrgPreset.name)
            )
            if row.name not in names
        ]
    return [*inherited, *own]


def named(session: Session, project_id: int) -> dict[str, V1Operation]:
    """Every preset a project's runs may name, its org's included."""
    return {row.name: _loaded(row) for row in rows_of(session, project_id)}


def compile_options(session: Session, project_id: int) -> dict[str, Any]:
    """What `compile_operation` needs to apply the project's presets: the named ones, and the
    defaults as overrides (merged before those an operation names; the org's before the
    project's, so that a project default has the last word)."""
    project = session.get(Project, project_id)  # the run's, already in the session
    if project is None or not profiles.current(session).has_presets(project):
        return {"presets": {}, "overrides": [], "presets_known": True}
    rows = rows_of(session, project_id)
    return {
        "presets": {row.name: _loaded(row) for row in rows},
        "overrides": [_loaded(row) for row in rows if row.is_default],
        "presets_known": True,
    }


def _loaded(row: Preset | OrgPreset) -> V1Operation:
    return load_operation(row.document, f"preset {row.name}", is_preset=True)
