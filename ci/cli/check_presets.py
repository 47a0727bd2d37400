"""The presets `axon check --project NAME` checks with: those the server would apply to the
project's runs (its own and its org's, a project preset overriding an org one of the same
name), fetched once, so the check compiles what a run of that project compiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

import click

from ci.cli.client import call
from schemas.errors import SpecError, SpecErrors
from schemas.spec import V1Operation, load_operation

PAGE = 500


@dataclass(frozen=True)
class ServerPresets:
    """What a project's runs may name (`named`), and what every run gets first (`defaults`)."""

    project: str
    named: dict[str, V1Operation] = field(default_factory=dict)
    defaults: list[V1Operation] = field(default_factory=list)


def fetch(project: str) -> ServerPresets:
    """The project's presets as its runs see them; a ClickException if the server cannot say."""
    path = f"/api/v1/projects/{quote(project, safe='')}/presets"
    rows: list[dict[str, object]] = []
    while True:
        params = {"inherited": "true", "limit": PAGE, "offset": len(rows)}
        page = call("GET", path, params=params).json()
        rows += page
        if len(page) < PAGE:
            break
    found = ServerPresets(project)
    for row in rows:
        name = str(row["name"])
        where = f"{row.get('scope', 'project')} preset {name}"
        try:
            preset = load_operation(row["preset"], where, is_preset=True)  # type: ignore[arg-type]
        except (SpecError, SpecErrors) as exc:
            # The server checked it when it was stored; a newer spec may read it differently.
            raise click.ClickException(f"{where} on the server does not load here: {exc}") from None
        found.named[name] = preset
        if row.get("default"):
            found.defaults.append(preset)
    return found
