"""Compile an operation and an event's context into one run: typed params, argv, env, timeout.

Params are rendered first, seeing only the context namespaces: `event` and `globals` (and any
other namespace the caller puts in `context`). The component's `run` section is rendered next,
seeing as well every input and output by name (`{{ lr }}`; a flag renders `--name` or nothing),
`params.<name>.value`, `.as_str`, `.as_arg` and `params.as_args` (every non-empty `as_arg`,
shell-quoted, for `sh -c` lines). A namespace hides an input of the same name.

Event values available to templates (all untrusted, from Event.context()): event.kind,
event.provider, event.repo, event.ref, event.branch, event.tag, event.sha, event.before,
event.changed_paths, event.actor, event.message, event.created, event.deleted, event.forced,
event.pull_request (number, action, base, head, labels, draft, fork, merged, or None),
event.comment, event.author_association, event.image, event.image_tag, event.digest, event.url.
Globals are whatever the caller passes: globals.uuid, globals.name, globals.project_name,
globals.owner_name, globals.run_outputs_path, globals.run_artifacts_path, globals.artifacts_path,
globals.created_at, globals.iteration, ...

Templates render in Jinja's immutable sandbox with strict undefined: an unknown name or an unsafe
attribute is a located SpecError. A rendered value is inserted, never re-rendered, and each
string stays one argv element: a branch named `main; rm -rf /` is one argument, not a command.
A command or args element whose template renders empty (a false flag) is dropped from the argv;
`args` given as one string is one element. `None` renders as "", dicts and lists as JSON.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from schemas.errors import SpecError
from schemas.spec import V1Component, V1Operation
from schemas.spec_io import V1IO, TypeMismatch, coerce, is_template
from schemas.spec_source import Path, format_path

# A template may build strings and lists, but not ones big enough to exhaust the worker.
_MAX_REPEAT = 100_000
_MAX_EXPONENT = 1_000


@dataclass(frozen=True)
class CompiledRun:
    """One run, ready for a runner: argv, image, env, timeout and the resolved inputs."""

    name: str
    command: list[str]
    image: str
    env: dict[str, str]
    timeout: float | None
    inputs: dict[str, Any]
    component: dict[str, Any]


@dataclass(frozen=True)
class _Bound:
    """A typed value bound to an input or output (or a contextOnly param, with no `io`)."""

    name: str
    value: Any
    io: V1IO | None = None
    to_env: str | None = None
    declared: Path = ()

    def as_str(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, default=str)

    def display(self) -> Any:
        """The value as `{{ name }}` shows it; Polyaxon turns a flag into `--name` or nothing."""
        if self.io is not None and self.io.is_flag:
            return f"--{self.name}" if self.value else ""
        return self.value


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            size = _repeat_size(left, right) or _repeat_size(right, left)
            if size > _MAX_REPEAT:
                raise SecurityError(f"a repeated value of length {size} is too large")
        return super().call_binop(context, operator, left, right)


def _repeat_size(sequence: Any, times: Any) -> int:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
        return len(sequence) * times
    return 0


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return value


class _Renderer:
    """Renders spec strings in the sandbox; a failure names the field and its source line."""

    def __init__(self, op: V1Operation) -> None:
        self.op = op
        self.env = _Sandbox(undefined=StrictUndefined, autoescape=False, finalize=_finalize)

    def error(self, path: Path, reason: str) -> SpecError:
        return SpecError(format_path(path), reason, self.op.source_line(path))

    def text(self, text: str, path: Path, context: dict[str, Any]) -> str:
        try:
            return self.env.from_string(text).render(context)
        except UndefinedError as exc:
            reason = exc.message or "undefined value"
        except SecurityError as exc:
            reason = f"unsafe template: {exc}"
        except TemplateSyntaxError as exc:
            reason = f"template syntax error: {exc.message}"
        except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            reason = f"template error: {exc}"
        raise self.error(path, reason)

    def tree(self, value: Any, path: Path, context: dict[str, Any]) -> Any:
        """A copy of `value` with every template string in it rendered."""
        if is_template(value):
            return self.text(value, path, context)
        if isinstance(value, dict):
            return {k: self.tree(v, (*path, k), context) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, (*path, i), context) for i, v in enumerate(value)]
        return value


def compile_operation(
    op: V1Operation, *, context: dict[str, Any], globals_: dict[str, Any]
) -> CompiledRun:
    """Resolve `op`'s params against its component and render its run.

    `context` maps namespace names to values, e.g. `{"event": event.context()}`; `globals_`
    becomes the `globals` namespace. Raises a located SpecError for anything unresolvable.
    """
    component = _inline_component(op)
    renderer = _Renderer(op)
    namespaces = {**context, "globals": dict(globals_)}
    bound = _bind(op, component, renderer, namespaces)
    template_context = {**_io_context(bound, renderer), **namespaces}
    dumped = component.model_dump(mode="json", by_alias=True, exclude_none=True)
    written = dumped["run"]["container"]
    dumped["run"] = renderer.tree(dumped["run"], ("component", "run"), template_context)
    container = dumped["run"]["container"]
    return CompiledRun(
        name=op.name or component.name or "",
        command=_argv(written, container),
        image=container["image"],
        env=_env(container, bound),
        timeout=_timeout(op, component),
        inputs={b.name: b.value for b in bound.values() if b.declared[1:2] == ("inputs",)},
        component=dumped,
    )


def _inline_component(op: V1Operation) -> V1Component:
    refs = {
        "hubRef": op.hub_ref,
        "dagRef": op.dag_ref,
        "pathRef": op.path_ref,
        "urlRef": op.url_ref,
    }
    for key, ref in refs.items():
        if ref is not None:
            reason = f"{key} resolution is not supported here yet; inline the component instead"
            raise SpecError("component", reason, op.source_line((key,)))
    if op.run_patch:
        raise SpecError("runPatch", "runPatch is not applied yet", op.source_line(("runPatch",)))
    if op.presets:
        raise SpecError("presets", "presets are not applied yet", op.source_line(("presets",)))
    assert op.component is not None  # the model requires exactly one component source
    return op.component


def _bind(
    op: V1Operation, component: V1Component, renderer: _Renderer, namespaces: dict[str, Any]
) -> dict[str, _Bound]:
    """Every param and every input default, rendered and typed."""
    declared = _declared(component)
    bound: dict[str, _Bound] = {}
    for name, param in (op.params or {}).items():
        path = ("params", name)
        if param.ref is not None:
            raise renderer.error((*path, "ref"), f"ref {param.ref!r} cannot be resolved here yet")
        value = renderer.tree(param.value, path, namespaces)
        if param.context_only:
            bound[name] = _Bound(name, value, to_env=param.to_env)
        elif name not in declared:
            raise renderer.error(path, "not an input of the component (nor an output)")
        else:
            io, where = declared[name]
            typed = _typed(io, value, path, renderer)
            bound[name] = _Bound(name, typed, io, param.to_env, where)
    for name, (io, where) in declared.items():
        if name not in bound:
            bound[name] = _default(io, where, renderer, namespaces)
    return bound


def _declared(component: V1Component) -> dict[str, tuple[V1IO, Path]]:
    """Each input and output by name, with the path where the component declares it."""
    found: dict[str, tuple[V1IO, Path]] = {}
    for section in ("inputs", "outputs"):
        for index, io in enumerate(getattr(component, section) or ()):
            found[io.name] = (io, ("component", section, index))
    return found


def _default(io: V1IO, where: Path, renderer: _Renderer, namespaces: dict[str, Any]) -> _Bound:
    if io.value is None:
        if io.required and where[1] == "inputs":
            raise renderer.error(("params", io.name), f"required input {io.name!r} has no value")
        return _Bound(io.name, None, io, declared=where)
    path = (*where, "value")
    value = renderer.tree(io.value, path, namespaces)
    return _Bound(io.name, _typed(io, value, path, renderer), io, declared=where)


def _typed(io: V1IO, value: Any, path: Path, renderer: _Renderer) -> Any:
    if value is None and not io.is_optional:
        raise renderer.error(path, f"required input {io.name!r} has no value")
    try:
        typed = coerce(io.type, value, is_list=bool(io.is_list))
    except TypeMismatch as exc:
        raise renderer.error(path, f"{io.name!r} has type {io.type}: {exc}") from None
    if io.options and typed is not None and typed not in io.options:
        raise renderer.error(path, f"{io.name!r} must be one of {io.options}, got {typed!r}")
    return typed


def _as_arg(bound: _Bound, renderer: _Renderer) -> str:
    """Polyaxon's `params.<name>.as_arg`: `--name=value`, a flag, or the input's argFormat."""
    io = bound.io
    if bound.value is None:
        return ""
    if io is not None and io.arg_format:
        path = (*bound.declared, "argFormat")
        return renderer.text(io.arg_format, path, {bound.name: bound.value})
    if io is not None and io.type == "bool":
        return f"--{bound.name}" if bound.value else ""
    return f"--{bound.name.replace('_', '-')}={bound.as_str()}"


def _io_context(bound: dict[str, _Bound], renderer: _Renderer) -> dict[str, Any]:
    params: dict[str, Any] = {}
    args: list[str] = []
    for name, item in bound.items():
        as_arg = _as_arg(item, renderer)
        params[name] = {
            "value": item.value,
            "as_str": item.as_str(),
            "as_arg": as_arg,
            "type": item.io.type if item.io else None,
        }
        if as_arg:
            args.append(shlex.quote(as_arg))
    params["as_args"] = " ".join(args)
    top = {name: item.display() for name, item in bound.items()}
    return {**top, "params": params}


def _argv(written: dict[str, Any], rendered: dict[str, Any]) -> list[str]:
    """command + args; a template that renders empty (a false flag) leaves no empty argument."""
    argv: list[str] = []
    for key in ("command", "args"):
        for source, value in zip(written.get(key, ()), rendered.get(key, ()), strict=True):
            if value or not is_template(source):
                argv.append(value)
    return argv


def _env(container: dict[str, Any], bound: dict[str, _Bound]) -> dict[str, str]:
    """The container's env, then every value with toEnv (the param's name over the input's)."""
    env = {var["name"]: var.get("value", "") for var in container.get("env", ())}
    for item in bound.values():
        name = item.to_env or (item.io.to_env if item.io else None)
        if name and item.value is not None:
            env[name] = item.as_str()
    return env


def _timeout(op: V1Operation, component: V1Component) -> float | None:
    for termination in (op.termination, component.termination):
        if termination is not None and termination.timeout is not None:
            return float(termination.timeout)
    return None
