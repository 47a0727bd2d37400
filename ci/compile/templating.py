"""Rendering spec strings in the shared sandbox (schemas.sandbox), with strict undefined.

An unknown name or an unsafe attribute is a located error, kept with every other one; event
values are untrusted and can never reach outside the sandbox. A template may build strings and
lists, but not ones big enough to exhaust the worker. `None` renders as "", dicts and lists as
JSON.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SecurityError

from schemas.errors import SpecError
from schemas.sandbox import sandbox
from schemas.spec import V1Operation
from schemas.spec_io import is_template
from schemas.spec_load import located
from schemas.spec_source import Path


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return value


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
