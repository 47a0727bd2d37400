"""Typed arguments of a comment command (`lr=0.01`), declared in the subscription.

An argument is a type name (`lr: float`) or a mapping: `{type, default, options, required}`.
Types: int, float, bool (true/false, yes/no, on/off, 1/0), str, choice (one of `options`).
What a comment gives is text from whoever wrote it: it becomes a value of the declared type or
the command is refused with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from schemas.errors import SpecError

TYPES = ("int", "float", "bool", "str", "choice")
TRUE = frozenset({"true", "yes", "on", "1"})
FALSE = frozenset({"false", "no", "off", "0"})
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    options: tuple[Any, ...] = ()
    required: bool = False
    has_default: bool = False
    default: Any = None

    @classmethod
    def from_spec(cls, name: Any, spec: dict[str, Any], path: str) -> Argument:
        """The argument declared as `spec`, a mapping whose keys triggers.command_models
        checked; SpecError names the field at fault."""
        if not isinstance(name, str) or not NAME.match(name):
            raise SpecError(path, "an argument's name is a letter or _ then letters, digits, _")
        kind = spec.get("type")
        if kind not in TYPES:
            raise SpecError(f"{path}.type", f"expected one of {', '.join(TYPES)}")
        options = spec.get("options")
        if kind == "choice" and (not isinstance(options, list) or not options):
            raise SpecError(f"{path}.options", "a choice needs a non-empty list of options")
        if kind != "choice" and options is not None:
            raise SpecError(f"{path}.options", "options go with type choice only")
        if not isinstance(spec.get("required", False), bool):
            raise SpecError(f"{path}.required", "expected true or false")
        argument = cls(name, kind, tuple(options or ()), spec.get("required", False))
        if "default" not in spec:
            return argument
        try:
            default = argument.parse(_as_text(spec["default"]))
        except ValueError as exc:
            raise SpecError(f"{path}.default", str(exc)) from None
        return cls(name, kind, argument.options, argument.required, True, default)

    def parse(self, text: str) -> Any:
        """The value `text` stands for; ValueError says why it is not one."""
        if self.type == "str":
            return text
        if self.type == "bool":
            if text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            raise ValueError(f"{self.name}: {text!r} is not true or false")
        if self.type == "choice":
            for option in self.options:
                if _as_text(option) == text:
                    return option
            raise ValueError(f"{self.name}: {text!r} is not one of {list(self.options)}")
        return self._number(text)

    def _number(self, text: str) -> int | float:
        try:
            number: int | float = int(text) if self.type == "int" else float(text)
        except ValueError:
            raise ValueError(f"{self.name}: {text!r} is not {_article(self.type)}") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{self.name}: {text!r} is not a finite number")
        return number


def _article(kind: str) -> str:
    return "an int" if kind == "int" else f"a {kind}"


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def arguments(value: Any, path: str) -> dict[str, Argument]:
    """The `args` mapping of a command (as triggers.command_models shaped it), each argument
    checked."""
    if value is None:
        return {}
    return {name: Argument.from_spec(name, spec, f"{path}.{name}") for name, spec in value.items()}
