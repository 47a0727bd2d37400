"""Valid Polyaxon that Axon reads but does not carry out yet: each use named, with the reason.

A run refuses such a field at compile time (the run fails with the reason); `axon check`
accepts the file, which is valid Polyaxon, and prints each use as a warning. Presets named in
`presets:` are among them where nothing looks them up by name (`axon check` without
`--project` or `--presets-dir`); a server run looks them up among its project's and its org's
presets (`presets_known`).
"""

from __future__ import annotations

from schemas.spec import V1Component, V1Operation
from schemas.spec_dag import V1Dag
from schemas.spec_io import V1IO
from schemas.spec_source import Path

TUNER = (
    "Axon makes a search's suggestions itself and does not run a tuner component yet; "
    "remove tuner to run this search"
)
DISABLE_DEFAULTS = (
    "Axon's hook reports always carry the run's uuid, name, status, inputs and outputs; "
    "disableDefaults: true is not supported yet"
)

EVENT_REF = "an op's events watch another op of its dag: write `ref: ops.<name>`"
EVENT_KIND = "Axon starts an op on another op's status only (the run_status_* kinds)"
BUILD = (
    "a build runs once for one image, and a matrix's trials cannot share one yet; build the "
    "image in its own operation"
)

PARAM_CONNECTION = (
    "a param's connection is carried out for a build's params only (its credentials reach the "
    "builder); mount a connection into a run with the run's `connections:`"
)
IO_CONNECTION = (
    "an input's or output's connection is not carried out; mount a connection into a run "
    "with the run's `connections:`"
)

NAMED_PRESETS = (
    "not looked up: presets are found by name on the server (`axon check --project NAME` "
    "checks with the project's and its org's), in `--presets-dir DIR`, or applied as a file "
    "(`-f preset.yaml`)"
)
REFERENCED_PRESETS = (
    "presets named inside a component found by reference are not applied; name them in the "
    "operation's own `presets:`"
)


def named_presets(names: list[str], reason: str = NAMED_PRESETS) -> str:
    """Why the presets named were not applied (nothing here knows them by name)."""
    quoted = ", ".join(repr(name) for name in names)
    return f"preset{'s' if len(names) > 1 else ''} {quoted}: {reason}"


def unsupported(
    op: V1Operation, component: V1Component | None = None, presets_known: bool = False
) -> list[tuple[Path, str]]:
    """(path, reason) for each field of `op` (and of its resolved `component`) that Axon
    would have to ignore to run it. With `presets_known` (a server run: its project's presets),
    a dag op's own presets are looked up when the op is compiled."""
    found: list[tuple[Path, str]] = []
    # A build compiles to a pipeline (ci.compile.builds), except with a matrix.
    if op.matrix is not None and op.build is not None:
        found.append((("build",), BUILD))
    elif op.matrix is not None and op.component is not None and op.component.build is not None:
        found.append((("component", "build"), BUILD))
    elif op.matrix is not None and component is not None and component.build is not None:
        found.append((((_reference(op) or "component"),), f"its component: {BUILD}"))
    # Presets still named here were not applied: an inline one was looked up (and refused) by
    # `apply_presets`; these are a dag op's, or those of a component found by reference.
    if op.presets and not presets_known:
        found.append((("presets",), named_presets(op.presets)))
    if op.component is not None and op.component.presets and not presets_known:
        found.append((("component", "presets"), named_presets(op.component.presets)))
    elif op.component is None and component is not None and component.presets:
        # A component found by reference keeps its presets in another file: never applied.
        where = _reference(op) or "component"
        reason = named_presets(component.presets, REFERENCED_PRESETS)
        found.append(((where,), f"its component names {reason}"))
    for name, param in (op.params or {}).items():
        if param.connection is not None:
            found.append((("params", name, "connection"), PARAM_CONNECTION))
    for io_at, io in _ios(op.component):
        if io.connection is not None:
            found.append(((*io_at, "connection"), IO_CONNECTION))
    if getattr(op.matrix, "tuner", None) is not None:
        found.append((("matrix", "tuner"), TUNER))
    for index, event in enumerate(op.events or ()):
        if event.upstream is None:
            found.append((("events", index, "ref"), EVENT_REF))
        for at, kind in enumerate(event.kinds):
            if not kind.startswith("run_status_"):
                found.append((("events", index, "kinds", at), f"{kind}: {EVENT_KIND}"))
    seen = set()
    for index, hook in enumerate(op.hooks or ()):
        if hook.disable_defaults:
            found.append((("hooks", index, "disableDefaults"), DISABLE_DEFAULTS))
            seen.add(hook.hub_ref)
        if hook.presets and not presets_known:
            found.append((("hooks", index, "presets"), named_presets(hook.presets)))
    inline = op.component.hooks if op.component is not None else None
    for index, hook in enumerate(inline or ()):
        if hook.disable_defaults:
            found.append((("component", "hooks", index, "disableDefaults"), DISABLE_DEFAULTS))
            seen.add(hook.hub_ref)
        if hook.presets and not presets_known:
            place: Path = ("component", "hooks", index, "presets")
            found.append((place, named_presets(hook.presets)))
    # A component found by reference has its hooks in another file: name the reference.
    for hook in (component.hooks if component is not None else None) or ():
        if hook.disable_defaults and hook.hub_ref not in seen:
            where = _reference(op) or "component"
            found.append(((where,), f"a hook of its component: {DISABLE_DEFAULTS}"))
            seen.add(hook.hub_ref)
        if hook.presets and op.component is None:
            reason = named_presets(hook.presets, REFERENCED_PRESETS)
            found.append((((_reference(op) or "component"),), f"a hook of its component: {reason}"))
    return found


def in_dag(dag: V1Dag, at: Path, presets_known: bool = False) -> list[tuple[Path, str]]:
    """The same for every op of a dag (and of nested dags), at their places under `at`."""
    found: list[tuple[Path, str]] = []
    for index, op in enumerate(dag.operations):
        where = (*at, "operations", index)
        shared = dag.component_named(op.dag_ref) if op.dag_ref else None
        found += [
            ((*where, *path), reason) for path, reason in unsupported(op, shared, presets_known)
        ]
        if op.component is not None and isinstance(op.component.run, V1Dag):
            found += in_dag(op.component.run, (*where, "component", "run"), presets_known)
    return found


def _ios(component: V1Component | None) -> list[tuple[Path, V1IO]]:
    """An inline component's inputs and outputs, each with its place."""
    if component is None:
        return []
    return [
        (("component", kind, index), io)
        for kind in ("inputs", "outputs")
        for index, io in enumerate(getattr(component, kind) or ())
    ]


def _reference(op: V1Operation) -> str | None:
    for key, value in (
        ("hubRef", op.hub_ref), ("pathRef", op.path_ref), ("urlRef", op.url_ref),
        ("dagRef", op.dag_ref),
    ):  # fmt: skip
        if value is not None:
            return key
    return None
