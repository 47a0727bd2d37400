"""Compile an operation and an event's context into runs: typed params, argv, env, timeout.

Steps: apply presets; find the component (inline, dagRef, pathRef, hubRef, urlRef, see
`ci.compile.refs`); apply the operation's overrides and runPatch with its patchStrategy
(`ci.compile.patching`); check a dag's graph (`ci.compile.dag`); bind params to inputs and
outputs; render the run.

Params are rendered first, seeing only the context namespaces: `event` and `globals` (and any
other namespace the caller puts in `context`, such as `connections`). A `ref: ops.X | dag |
runs.UUID` param reads `refs[ref]` (`{"outputs": {...}, "inputs": {...}, ...}`), which the
caller fills with what upstream runs produced; a param's template reads the same values as
`{{ ops.X.outputs.y }}`, `{{ dag.inputs.y }}` or `{{ runs.UUID.outputs.y }}`. A matrix value no
input declares is a param of the run's context. The run section is rendered next, seeing as well
every input and output by name (`{{ lr }}`; a flag renders `--name` or nothing), `inputs` and
`outputs` as mappings, `params.<name>.value`, `.as_str`, `.as_arg` and `params.as_args` (every
non-empty `as_arg`, shell-quoted, for `sh -c` lines). A namespace hides an input of the same name.
A dag's run is not rendered: each of its ops is compiled when it starts.

Event values available to templates (all untrusted, from Event.context()): event.kind,
event.provider, event.repo, event.ref, event.branch, event.tag, event.sha, event.before,
event.changed_paths, event.actor, event.message, event.created, event.deleted, event.forced,
event.pull_request (number, action, base, head, labels, draft, fork, merged, or None),
event.comment, event.author_association, event.image, event.image_tag, event.digest, event.url.
Globals are whatever the caller passes: globals.uuid, globals.name, globals.project_name,
globals.owner_name, globals.run_outputs_path, globals.run_artifacts_path, globals.artifacts_path,
globals.created_at, globals.schedule_at, globals.iteration, ...

Templates render in Jinja's immutable sandbox with strict undefined: an unknown name or an unsafe
attribute is a located error. A rendered value is inserted, never re-rendered, and each string
stays one argv element: a branch named `main; rm -rf /` is one argument, not a command. A command
or args element whose template renders empty (a false flag) is dropped from the argv; `args`
given as one string is one element. `None` renders as "", dicts and lists as JSON. Every problem
found is reported together, as SpecErrors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ci.compile import build_inputs, builds
from ci.compile import dag as dags
from ci.compile import matrix as matrices
from ci.compile.binding import Binder, Bound
from ci.compile.patching import apply_operation, apply_presets
from ci.compile.refs import Fetch, resolve_component
from ci.compile.templating import Renderer
from ci.compile.unsupported import in_dag, unsupported
from schemas.errors import SpecError, SpecErrors
from schemas.spec import V1Component, V1Operation
from schemas.spec_dag import V1Dag
from schemas.spec_io import is_template
from schemas.spec_load import located
from schemas.spec_source import Path

# Which replica's container is "the" container of a distributed run, in order of preference.
PRIMARY = {
    "tfjob": ("chief", "worker", "ps", "evaluator"),
    "pytorchjob": ("master", "worker"),
    "mpijob": ("launcher", "worker"),
    "raycluster": ("head",),
    "daskcluster": ("job", "scheduler", "worker"),
    "daskjob": ("job", "scheduler", "worker"),
    "rayjob": ("head",),
    "spark": ("driver", "executor"),
}


@dataclass(frozen=True)
class CompiledRun:
    """One run, ready for a runner: argv, image, env, timeout and the resolved values."""

    name: str
    command: list[str]
    image: str
    env: dict[str, str]
    timeout: float | None
    inputs: dict[str, Any]
    component: dict[str, Any]
    kind: str = "job"
    params: dict[str, Any] = field(default_factory=dict)
    iteration: int | None = None
    plan: list[list[str]] = field(default_factory=list)
    max_retries: int | None = None
    queue: str | None = None


@dataclass(frozen=True)
class Options:
    """Where references are looked up, and how strictly values are checked."""

    base_dir: str | None = None
    hub_dir: str | None = None
    allow_url_refs: bool = False
    root_dir: str | None = None
    fetch: Fetch | None = None
    presets: Mapping[str, V1Operation] = field(default_factory=dict)
    # The server's runs: `presets` are every preset of the project, so a name not among them is
    # unknown (without it, no presets at all means none can be looked up by name here).
    presets_known: bool = False
    overrides: Sequence[V1Operation] = ()
    refs: Mapping[str, Mapping[str, Any]] | None = None
    # For `axon check`: a value still holding a template after rendering is not type-checked.
    delay_templates: bool = False
    # For `axon check`: what Axon does not carry out yet goes here instead of failing the run.
    warnings: list[SpecError] | None = None


def compile_operation(
    op: V1Operation,
    *,
    context: dict[str, Any],
    globals_: dict[str, Any],
    matrix_values: Mapping[str, Any] | None = None,
    iteration: int | None = None,
    **options: Any,
) -> CompiledRun:
    """Resolve `op`'s component and params and render its run.

    `context` maps namespace names to values, e.g. `{"event": event.context()}`; `globals_`
    becomes the `globals` namespace. `matrix_values` are the params of one run of op's matrix
    (see `compile_matrix`). `options` are the fields of `Options`: `hub_dir`, `allow_url_refs`,
    `base_dir`, `root_dir` and `fetch` for references; `overrides` (presets applied first) and
    `presets` (by name); `refs`, what upstream runs produced; `delay_templates`. Raises
    SpecErrors naming every problem with its path, line and column.
    """
    settings = Options(**options)
    op = apply_presets(op, settings.overrides, settings.presets, settings.presets_known)
    if op.matrix is not None and matrix_values is None:
        kind = op.matrix.kind
        reason = f"a {kind} matrix makes one run per combination of its params, not one run"
        errors = [located(path, why, op.source) for path, why in unsupported(op)]
        raise SpecErrors([*errors, located(("matrix", "kind"), reason, op.source)])
    component, graph_errors = _component(op, settings)
    build = builds.build_of(op, component)
    if build is not None:
        # The build is the pipeline's first op; this operation runs on what it built.
        pipeline = builds.as_pipeline(op, component, build, context.get("event"))
        again = {**options, "overrides": ()}
        try:
            return compile_operation(pipeline, context=context, globals_=globals_, **again)
        except SpecErrors as exc:  # the params it carried in were written on `op`
            moved = build_inputs.relocated(exc.errors, builds.CARRIED_BUILD_PARAM, op.source)
            raise SpecErrors(moved) from None
    known = iteration if iteration is not None else globals_.get("iteration")
    namespaces = {
        "connections": {},
        **_ref_namespaces(settings.refs),
        **context,
        "globals": {**globals_, "iteration": known},
    }
    binder = Binder(op, component, Renderer(op), settings.refs, settings.delay_templates)
    binder.errors.extend(graph_errors)
    nested = (
        in_dag(component.run, ("component", "run"), settings.presets_known)
        if isinstance(component.run, V1Dag)
        else []
    )
    for path, reason in [*unsupported(op, component), *nested]:
        found = located(path, reason, op.source)
        (binder.errors if settings.warnings is None else settings.warnings).append(found)
    matrix_at: Path = ("matrix", "params")
    if op.matrix is not None:
        if op.matrix.kind == "mapping":
            matrix_at = ("matrix", "values", iteration or 0)
        unfit = matrices.input_errors(op.matrix, component.io())
        for path, reason in unfit:
            binder.renderer.fail(path, reason)
        # A value whose kind does not fit its input is reported once above, not once per run.
        binder.unchecked = {str(path[2]) for path, _ in unfit}
    bound = binder.bind(namespaces, matrix_values or {}, matrix_at)
    run = _render_run(component, binder, bound, namespaces)
    if binder.errors:
        raise SpecErrors(binder.errors)
    return _compiled(op, component, run, bound, iteration)


def compile_matrix(
    op: V1Operation,
    *,
    context: dict[str, Any],
    globals_: dict[str, Any],
    seed: int | None = None,
    **options: Any,
) -> list[CompiledRun]:
    """Every run of op's grid, random or mapping matrix (one run when op has no matrix), each
    with its iteration; SpecErrors gathers the problems of every run."""
    settings = Options(**options)
    op = apply_presets(op, settings.overrides, settings.presets, settings.presets_known)
    # Applied presets leave no names behind; the named ones still complete a dag's ops.
    options = {**options, "overrides": ()}
    common = {"context": context, "globals_": globals_, **options}
    if op.matrix is None:
        return [compile_operation(op, **common)]
    if op.matrix.kind not in matrices.EXPANDABLE:
        reason = (
            f"a {op.matrix.kind} matrix chooses its runs from results; only grid, random and "
            "mapping matrices are expanded"
        )
        raise SpecErrors([located(("matrix", "kind"), reason, op.source)])
    try:
        runs = matrices.expand(op.matrix, seed=seed)
    except matrices.MatrixTooLarge as exc:
        raise SpecErrors([located(("matrix",), str(exc), op.source)]) from None
    compiled: list[CompiledRun] = []
    errors: dict[str, SpecError] = {}
    for index, values in enumerate(runs):
        try:
            compiled.append(compile_operation(op, matrix_values=values, iteration=index, **common))
        except SpecErrors as exc:
            errors.update({str(error): error for error in exc.errors})
    if errors:
        raise SpecErrors(list(errors.values()))
    return compiled


def _ref_namespaces(refs: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """`{{ ops.X.outputs.y }}`, `{{ dag.inputs.y }}`, `{{ runs.UUID.outputs.y }}`: Polyaxon's
    template spelling of a `ref:` param, read from the same upstream values."""
    found: dict[str, Any] = {}
    for ref, values in (refs or {}).items():
        kind, _, name = ref.partition(".")
        if kind == "dag":
            found["dag"] = values
        elif name:
            found.setdefault(kind, {})[name] = values
    return found


def _component(op: V1Operation, settings: Options) -> tuple[V1Component, list[SpecError]]:
    """The component as `op` runs it, and the problems of its graph when it is a dag."""
    component = resolve_component(
        op,
        base_dir=settings.base_dir,
        hub_dir=settings.hub_dir,
        allow_url_refs=settings.allow_url_refs,
        root_dir=settings.root_dir,
        fetch=settings.fetch,
    )
    component = apply_operation(op, component)
    errors: list[SpecError] = []
    if isinstance(component.run, V1Dag):
        errors = dags.dag_errors(component.run, ("component", "run"), op.source)
        errors += dags.completion_errors(
            component.run, ("component", "run"), op.source, settings.presets
        )
    return component, errors


def _render_run(
    component: V1Component, binder: Binder, bound: dict[str, Bound], namespaces: dict[str, Any]
) -> dict[str, Any]:
    dumped = component.model_dump(mode="json", by_alias=True, exclude_none=True)
    if component.run.kind == "dag":
        return dumped
    template_context = {**binder.io_context(bound), **namespaces}
    dumped["run"] = binder.renderer.tree(dumped["run"], ("component", "run"), template_context)
    return dumped


def _primary(run: dict[str, Any]) -> dict[str, Any]:
    if "container" in run:
        return dict(run["container"])
    for name in PRIMARY.get(run.get("kind", ""), ()):
        if isinstance(run.get(name), dict):
            return dict(run[name].get("container") or {})
    return {}


def _compiled(
    op: V1Operation,
    component: V1Component,
    rendered: dict[str, Any],
    bound: dict[str, Bound],
    iteration: int | None,
) -> CompiledRun:
    written = _primary(component.model_dump(mode="json", by_alias=True, exclude_none=True)["run"])
    container = _primary(rendered["run"])
    termination = component.termination
    return CompiledRun(
        name=op.name or component.name or "",
        command=_argv(written, container),
        image=container.get("image", ""),
        env=_env(container, bound),
        timeout=float(termination.timeout) if termination and termination.timeout else None,
        inputs=_jsonable({b.name: b.value for b in bound.values() if b.section == "inputs"}),
        component=rendered,
        kind=component.run.kind,
        params=_jsonable({b.name: b.value for b in bound.values()}),
        iteration=iteration,
        plan=dags.levels(component.run) if isinstance(component.run, V1Dag) else [],
        max_retries=termination.max_retries if termination else None,
        queue=component.queue,
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return loaded


def _argv(written: dict[str, Any], rendered: dict[str, Any]) -> list[str]:
    """command + args; a template that renders empty (a false flag) leaves no empty argument."""
    argv: list[str] = []
    for key in ("command", "args"):
        for source, value in zip(written.get(key, ()), rendered.get(key, ()), strict=True):
            if value or not is_template(source):
                argv.append(value)
    return argv


def _env(container: dict[str, Any], bound: dict[str, Bound]) -> dict[str, str]:
    """The container's env, then every value with toEnv (the param's name over the input's)."""
    # A valueFrom variable is filled by Kubernetes from a secret or a field; it stays in the
    # compiled component for the runners that can resolve it.
    env = {v["name"]: v.get("value", "") for v in container.get("env", ()) if "valueFrom" not in v}
    for item in bound.values():
        name = item.to_env or (item.io.to_env if item.io else None)
        if name and item.value is not None:
            env[name] = item.as_str()
    return env
