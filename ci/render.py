"""Rendering spec strings in Jinja's immutable sandbox, with strict undefined.

An unknown name or an unsafe attribute is a located error, kept with every other one; event
values are untrusted and can never reach outside the sandbox. A template may build strings and
lists, but not ones big enough to exhaust the worker. `None` renders as "", dicts and lists as
JSON.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from schemas.errors import SpecError
from schemas.spec import V1Operation
from schemas.spec_io import is_template
from schemas.spec_load import located
from schemas.spec_source import Path

_MAX_REPEAT = 100_000
_MAX_EXPONENT = 1_000


class Sandbox(ImmutableSandboxedEnvironment):
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


class NamingUndefined(StrictUndefined):
    """Strict undefined that names a placeholder by what it stands for (`event`)."""

    @property
    def _undefined_message(self) -> str:
        label = getattr(self._undefined_obj, "_label", None)
        if isinstance(label, str) and self._undefined_hint is None:
            return f"{label!r} has no attribute {self._undefined_name!r}"
        return str(super()._undefined_message)


def sandbox(**options: Any) -> Sandbox:
    """The sandbox every spec and hook template renders in: strict, size-bounded."""
    return Sandbox(undefined=NamingUndefined, autoescape=False, **options)


class Renderer:
    """Renders spec strings in the sandbox; each failure is kept, named by field and place."""

    def __init__(self, op: V1Operation) -> None:
        self.op = op
        self.env = sandbox(finalize=_finalize)
        self.errors: list[SpecError] = []

    def fail(self, path: Path, reason: str) -> None:
        self.errors.append(located(path, reason, self.op.source))

    def text(self, text: str, path: Path, context: dict[str, Any]) -> str:
        try:
            return self.env.from_string(text).render(context)
        except UndefinedError as exc:
            reason = exc.message or "undefined value"
        except SecurityError as exc:
            reason = f"unsafe template: {exc}"
        except TemplateSyntaxError as exc:
            reason = f"template syntax error: {exc.message}"
        except (
            TemplateError,
            ArithmeticError,
            AttributeError,
            LookupError,
            TypeError,
            ValueError,
        ) as exc:
            reason = f"template error: {exc}"
        self.fail(path, reason)
        return text

    def tree(self, value: Any, path: Path, context: dict[str, Any]) -> Any:
        """A copy of `value` with every template string in it rendered."""
        if is_template(value):
            return self.text(value, path, context)
        if isinstance(value, dict):
            return {k: self.tree(v, (*path, k), context) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, (*path, i), context) for i, v in enumerate(value)]
        return value
