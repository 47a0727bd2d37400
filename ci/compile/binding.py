"""Params, matrix values and input defaults bound to a component's inputs and outputs.

A bound value is rendered (params see the context namespaces), typed by its input or output,
and checked against its validation; a value no input or output declares is a param of the run's
context. Every problem is kept on the renderer, with its place.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ci.compile.refs import RefError, read_ref
from ci.compile.templating import Renderer
from schemas.spec import V1Component, V1Operation
from schemas.spec_io import V1IO, TypeMismatch, coerce, is_template
from schemas.spec_source import Path
from schemas.spec_validation import ValidationFailed

# A ref param whose value could not be read: it is reported once, not also as missing.
_UNREAD = object()


@dataclass(frozen=True)
class Bound:
    """A value bound to an input or output, or a contextOnly param (section "context")."""

    name: str
    value: Any
    io: V1IO | None = None
    to_env: str | None = None
    section: str = "context"

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


class Binder:
    """Binds params, matrix values and defaults to the component's inputs and outputs."""

    def __init__(
        self,
        op: V1Operation,
        component: V1Component,
        renderer: Renderer,
        refs: Mapping[str, Mapping[str, Any]] | None,
        delay_templates: bool,
    ) -> None:
        self.op, self.renderer, self.refs = op, renderer, refs
        self.delay_templates = delay_templates
        self.errors = renderer.errors
        self.unchecked: set[str] = set()
        self.declared: dict[str, tuple[V1IO, str]] = {}
        for section in ("inputs", "outputs"):
            for io in getattr(component, section) or ():
                self.declared[io.name] = (io, section)

    def bind(
        self, namespaces: dict[str, Any], matrix_values: Mapping[str, Any], matrix_at: Path
    ) -> dict[str, Bound]:
        """Every param, matrix value and input default, rendered and typed."""
        bound: dict[str, Bound] = {}
        for name, param in (self.op.params or {}).items():
            path = ("params", name)
            if param.ref is not None:
                value = self._read_ref(param.ref, param.value, path)
                if value is _UNREAD:
                    bound[name] = Bound(name, None)
                    continue
            else:
                value = self.renderer.tree(param.value, path, namespaces)
            if param.context_only:
                bound[name] = Bound(name, value, to_env=param.to_env)
            else:
                bound[name] = self._typed(name, value, path, param.to_env)
        for name, value in matrix_values.items():
            if name in self.declared and name not in self.unchecked:
                bound[name] = self._typed(name, value, (*matrix_at, name), None)
            else:
                # Polyaxon passes a matrix value no input declares as a param of the run's
                # context (polyaxon/_flow/params/ops_params.py): `{{ name }}` in templates.
                bound[name] = Bound(name, value)
        for name, (io, section) in self.declared.items():
            if name not in bound:
                value = self.renderer.tree(io.value, ("component", section, name), namespaces)
                bound[name] = self._typed(name, value, ("params", name), None)
        return bound

    def _read_ref(self, ref: str, value: Any, path: Path) -> Any:
        if self.refs is not None and ref in self.refs:
            try:
                return read_ref(self.refs[ref], value)
            except RefError as exc:
                self.renderer.fail((*path, "value"), str(exc))
                return _UNREAD
        if self.delay_templates:
            return "{{ %s.%s }}" % (ref, value)  # noqa: UP031
        self.renderer.fail((*path, "ref"), f"{ref!r} is only known once its run has finished")
        return _UNREAD

    def _typed(self, name: str, value: Any, path: Path, to_env: str | None) -> Bound:
        if name not in self.declared:
            self.renderer.fail(path, "not an input of the component (nor an output)")
            return Bound(name, value, to_env=to_env)
        io, section = self.declared[name]
        bound = Bound(name, value, io, to_env, section)
        if value is None:
            if section == "inputs" and not io.is_optional:
                self.renderer.fail(path, f"required input {name!r} has no value")
            return bound
        if self.delay_templates and is_template(value):
            return bound
        try:
            typed = coerce(io.type, value, is_list=bool(io.is_list))
            if not io.delayed:
                io.check(typed)
        except TypeMismatch as exc:
            self.renderer.fail(path, f"{name!r} has type {io.type}: {exc}")
            return bound
        except ValidationFailed as exc:
            self.renderer.fail(path, f"{name!r}: {exc}")
            return bound
        return Bound(name, typed, io, to_env, section)

    def io_context(self, bound: dict[str, Bound]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        args: list[str] = []
        for name, item in bound.items():
            as_arg = self._as_arg(item)
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
        by_section = {
            section: {b.name: b.value for b in bound.values() if b.section == section}
            for section in ("inputs", "outputs")
        }
        return {**top, **by_section, "params": params}

    def _as_arg(self, bound: Bound) -> str:
        """Polyaxon's `params.<name>.as_arg`: `--name=value`, a flag, or the input's argFormat."""
        io = bound.io
        if bound.value is None:
            return ""
        if io is not None and io.arg_format:
            path = ("component", bound.section, bound.name, "argFormat")
            return self.renderer.text(io.arg_format, path, {bound.name: bound.value})
        if io is not None and io.is_flag:
            return f"--{bound.name}" if bound.value else ""
        return f"--{bound.name}={bound.as_str()}"
