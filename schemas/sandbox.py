"""The one Jinja sandbox every template renders in: immutable, strict, size-bounded.

Spec strings, hook conditions and concurrency group keys are all rendered from values an
outsider controls (branch names, commit messages, a job's outputs). The sandbox keeps them from
reaching outside it, an unknown name fails instead of rendering as "", and a template may build
strings and lists but not ones big enough to exhaust the worker.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

# Jinja's own sandbox already caps range() at 100,000 items; these hold `*` and `**` to the
# same order of size, since `"x" * 10**9` would otherwise allocate a gigabyte.
MAX_REPEAT = 100_000
MAX_EXPONENT = 1_000


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            size = _repeat_size(left, right) or _repeat_size(right, left)
            if size > MAX_REPEAT:
                raise SecurityError(f"a repeated value of length {size} is too large")
        return super().call_binop(context, operator, left, right)


def _repeat_size(sequence: Any, times: Any) -> int:
    if isinstance(sequence, str | list | tuple) and isinstance(times, int):
        return len(sequence) * times
    return 0


class NamingUndefined(StrictUndefined):
    """Strict undefined that names a placeholder by what it stands for (`event`)."""

    @property
    def _undefined_message(self) -> str:
        label = getattr(self._undefined_obj, "_label", None)
        if isinstance(label, str) and self._undefined_hint is None:
            return f"{label!r} has no attribute {self._undefined_name!r}"
        return str(super()._undefined_message)


def sandbox(**options: Any) -> Sandbox:
    """A new sandbox; `options` are Jinja environment options such as `finalize`."""
    return Sandbox(undefined=NamingUndefined, autoescape=False, **options)
