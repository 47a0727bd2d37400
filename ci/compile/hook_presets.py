"""Presets named by a hook (`hooks[i].presets`): a hook sends a report and starts no run, so a
preset reaches it through its `params` only (a target's settings, `channel: {value: "#ml"}`),
merged into the hook's own with the preset's patchStrategy (post_merge: the preset's win).
A preset that sets anything else is refused for that hook, naming the fields, rather than
applied in part; an unknown name is refused with the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.spec import V1Operation
from schemas.spec_source import Path

# What a preset holds besides what it patches; a hook reads the rest only from `params`.
IGNORED = frozenset({"version", "kind", "isPreset", "patchStrategy", "name", "description"})
HOOK_PLACES: tuple[Path, ...] = (("hooks",), ("component", "hooks"))


def apply(
    data: dict[str, Any],
    named: Mapping[str, V1Operation],
    known: bool,
    dump: Callable[[V1Operation], dict[str, Any]],
    patch: Callable[[Any, Any, str], Any],
) -> tuple[bool, list[tuple[Path, str]]]:
    """Resolve the presets of every hook in `data` (the operation's and its inline
    component's) in place: (whether any hook changed, (place, reason) of each refusal). With
    no preset to look up (`named` empty and not `known`), hooks keep their names for
    `ci.compile.unsupported` to report."""
    changed = False
    errors: list[tuple[Path, str]] = []
    if not named and not known:
        return changed, errors
    for place in HOOK_PLACES:
        owner = data.get("component") if place[0] == "component" else data
        for index, hook in enumerate((owner or {}).get("hooks") or ()):
            names = hook.get("presets") or ()
            if not names:
                continue
            at: Path = (*place, index, "presets")
            unknown = [name for name in names if name not in named]
            listed = ", ".join(sorted(named)) or "none"
            errors += [(at, f"unknown preset {name!r}; known: {listed}") for name in unknown]
            for name in names:
                if name in unknown:
                    continue
                preset = dump(named[name])
                extra = sorted(set(preset) - IGNORED - {"params"})
                if extra:
                    errors.append((at, _unused(name, extra)))
                    continue
                strategy = preset.get("patchStrategy") or "post_merge"
                hook["params"] = patch(hook.get("params") or {}, preset.get("params"), strategy)
            hook.pop("presets", None)
            changed = True
    return changed, errors


def _unused(name: str, fields: list[str]) -> str:
    return (
        f"preset {name!r} sets {', '.join(fields)}, which a hook does not use: a hook sends a "
        "report and starts no run, so only a preset's params reach it"
    )
