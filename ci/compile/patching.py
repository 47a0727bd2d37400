"""Presets, the operation's overrides and runPatch, merged with Polyaxon's patch strategies.

Documents are merged as plain data (camelCase keys). A value in the patch is "new", the one
already there is "current":

- `post_merge` (the default): mappings merge key by key, the new value wins; lists keep the
  current items and add the new ones not already there.
- `pre_merge`: the same, but the current value wins and new list items come first.
- `replace`: mappings merge key by key; any other new value replaces the current one.
- `isnull`: a new value is used only where there is none yet.

Two mappings of different `kind` (a grid matrix patched by a random one) do not merge: under
`post_merge` and `replace` the new one replaces the current, under the others it is ignored.
A missing or null new value never removes anything.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ci.compile import hook_presets
from ci.compile.unsupported import named_presets
from schemas.errors import SpecError, SpecErrors
from schemas.spec import RUN_MODELS, V1Component, V1Operation
from schemas.spec_distributed import REPLICA_OF
from schemas.spec_load import located, user_path
from schemas.spec_source import Path, format_path

STRATEGIES = ("post_merge", "pre_merge", "replace", "isnull")
# What an operation passes on to its component (Polyaxon's operation override sections).
OVERRIDES = (
    "name", "description", "tags", "presets", "queue", "cache", "termination", "plugins",
    "build", "hooks", "isApproved", "cost",
)  # fmt: skip
# Keys of a preset that describe the preset itself rather than what it patches.
_PRESET_ONLY = ("version", "kind", "isPreset", "patchStrategy")


def patch(current: Any, new: Any, strategy: str = "post_merge") -> Any:
    """`current` patched with `new` under `strategy` (see the module docstring); pure."""
    if new is None:
        return copy.deepcopy(current)
    if current is None:
        return copy.deepcopy(new)
    if isinstance(current, dict) and isinstance(new, dict):
        if "kind" in current and "kind" in new and current["kind"] != new["kind"]:
            keep_new = strategy in ("post_merge", "replace")
            return copy.deepcopy(new if keep_new else current)
        merged = copy.deepcopy(current)
        for key, value in new.items():
            merged[key] = patch(current.get(key), value, strategy)
        return merged
    if strategy == "isnull":
        return copy.deepcopy(current)
    if strategy == "replace":
        return copy.deepcopy(new)
    if isinstance(current, list) and isinstance(new, list):
        first, second = (current, new) if strategy == "post_merge" else (new, current)
        return copy.deepcopy(first + [item for item in second if item not in first])
    return copy.deepcopy(new if strategy == "post_merge" else current)


def dump(document: V1Operation | V1Component) -> dict[str, Any]:
    """A document as plain data: camelCase keys, JSON values, no unset fields."""
    return document.model_dump(mode="json", by_alias=True, exclude_none=True)


def apply_presets(
    op: V1Operation,
    overrides: Sequence[V1Operation],
    named: Mapping[str, V1Operation],
    known: bool = False,
) -> V1Operation:
    """`op` patched by each override (`axon check -f op -f preset`), then by each preset it
    names in `presets:`, each with the preset's own patchStrategy; a hook's presets reach its
    params (`ci.compile.hook_presets`). SpecErrors name an unknown preset, and any field the
    presets make invalid."""
    data = dump(op)
    for preset in overrides:
        data = _patched_by(data, preset)
    names = list(data.get("presets") or ()) + list(
        (data.get("component") or {}).get("presets") or ()
    )
    unknown = [name for name in names if name not in named]
    if unknown and not named and not known:  # nothing to look a preset up by name in
        raise SpecErrors([_place(op, ("presets",), named_presets(unknown))])
    if unknown:
        listed = ", ".join(sorted(named)) or "none"
        reasons = [f"unknown preset {name!r}; known: {listed}" for name in unknown]
        raise SpecErrors([_place(op, ("presets",), reason) for reason in reasons])
    for name in dict.fromkeys(names):
        data = _patched_by(data, named[name])
    hooks_changed, refused = hook_presets.apply(data, named, known, dump, patch)
    if refused:
        raise SpecErrors([_place(op, path, reason) for path, reason in refused])
    if not overrides and not names and not hooks_changed:
        return op
    # Applied: compiling the result again must not look them up again.
    data.pop("presets", None)
    (data.get("component") or {}).pop("presets", None)
    patched = _revalidate(V1Operation, data, op, "presets")
    patched._source = op._source
    return patched


def _patched_by(data: dict[str, Any], preset: V1Operation) -> dict[str, Any]:
    changes = {k: v for k, v in dump(preset).items() if k not in _PRESET_ONLY}
    return patch(data, changes, preset.patch_strategy or "post_merge")


def apply_operation(op: V1Operation, component: V1Component) -> V1Component:
    """The component as this operation runs it: the operation's name, queue, termination... and
    its runPatch applied with the operation's patchStrategy."""
    strategy = op.patch_strategy or "post_merge"
    op_data = dump(op)
    changes = {key: op_data[key] for key in OVERRIDES if key in op_data}
    if not changes and not op.run_patch:
        return component
    data = patch(dump(component), changes, strategy)
    if op.run_patch:
        data["run"] = patch_run(data["run"], op.run_patch, strategy)
    return _revalidate(V1Component, data, op, "runPatch")


def patch_run(run: dict[str, Any], run_patch: dict[str, Any], strategy: str) -> dict[str, Any]:
    """A run patched; a Kubeflow job's patch that only has replica fields patches every
    replica, as Polyaxon does."""
    kind = run.get("kind", "")
    if kind in REPLICA_OF and _is_replica_patch(kind, run_patch):
        patched = copy.deepcopy(run)
        for name, replica in run.items():
            if isinstance(replica, dict) and "container" in replica:
                patched[name] = patch(replica, run_patch, strategy)
        return patched
    return patch(run, {k: v for k, v in run_patch.items() if k != "kind"}, strategy)


def _is_replica_patch(kind: str, run_patch: dict[str, Any]) -> bool:
    job_keys = {field.alias or name for name, field in RUN_MODELS[kind].model_fields.items()}
    return not (set(run_patch) & (job_keys - {"kind"}))


def _revalidate(model: type[Any], data: dict[str, Any], op: V1Operation, cause: str) -> Any:
    try:
        # A context dict lets a dag mark its ops as completable while they are validated.
        return model.model_validate(data, context={})
    except ValidationError as exc:
        errors = [_patch_error(error, data, op, cause) for error in exc.errors()]
        raise SpecErrors(errors) from None


def _patch_error(error: Any, data: dict[str, Any], op: V1Operation, cause: str) -> SpecError:
    where = format_path(user_path(tuple(p for p in error["loc"] if p != "[key]"), data))
    reason = error["msg"].removeprefix("Value error, ")
    return _place(
        op, (cause,), f"after applying {cause}: {where}: {reason[:1].lower()}{reason[1:]}"
    )


def _place(op: V1Operation, path: Path, reason: str) -> SpecError:
    return located(path, reason, op.source)


def with_params(operation: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The operation document with these param values in place of its own (same name); a
    value given here replaces a `ref` too, as `polyaxon run -P` does, and keeps the param's
    other fields (toEnv, contextOnly, ...)."""
    if not params:
        return operation
    given = dict(operation.get("params") or {})
    for name, value in params.items():
        old = given.get(name)
        kept = {}
        if isinstance(old, dict) and ("value" in old or "ref" in old):  # the full form
            kept = {k: v for k, v in old.items() if k not in ("value", "ref")}
        given[name] = {**kept, "value": value}
    return {**operation, "params": given}
