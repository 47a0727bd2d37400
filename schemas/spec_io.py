"""Typed inputs and outputs (V1IO), the params that feed them (V1Param), and value typing."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from typing import Any, Self

from pydantic import field_validator, model_validator

from schemas.spec_base import SpecModel, located_error
from schemas.spec_validation import V1Validation, ValidationFailed
from schemas.spelling import did_you_mean

# Polyaxon's IO type names. The composite ones (git, uri, artifacts, ...) take a string or a
# mapping here; their inner shapes are checked where they are used, not at load time.
STR_TYPES = frozenset(
    {"str", "path", "gcs", "s3", "wasb", "image", "event", "uuid", "date", "datetime"}
)
STR_OR_DICT_TYPES = frozenset({"uri", "auth", "git", "dockerfile", "file", "artifacts"})
IO_TYPES = frozenset(
    {"any", "int", "float", "bool", "dict", "dict_of_dicts", "list", "metric", "metadata"}
    | STR_TYPES
    | STR_OR_DICT_TYPES
)

_TRUE = frozenset({"true", "yes", "y", "on", "t", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "f", "0"})


class TypeMismatch(ValueError):
    """A value does not fit an IO type; the message says what was expected and what came."""


def is_template(value: Any) -> bool:
    """True for a string that Jinja would change when rendered."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


def coerce(io_type: str | None, value: Any, *, is_list: bool = False) -> Any:
    """`value` as `io_type`, accepting the strings a template produces ("0.1" for a float).

    None passes through: whether a value is required is the caller's decision.
    """
    if value is None or io_type is None:
        return value
    if not is_list:
        return _coerce_one(io_type, value)
    items = _parse_json(value, list, "list") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise TypeMismatch(f"expected a list of {io_type}, got {_show(value)}")
    return [_coerce_one(io_type, item) for item in items]


def _coerce_one(io_type: str, value: Any) -> Any:
    if io_type == "any" or (io_type == "metadata" and not isinstance(value, str)):
        return value
    if io_type == "int":
        return _to_int(value)
    if io_type in ("float", "metric"):
        return _to_float(value)
    if io_type == "bool":
        return _to_bool(value)
    if io_type in STR_TYPES:
        return _to_str(io_type, value)
    if io_type in STR_OR_DICT_TYPES:
        return value if isinstance(value, dict) else _to_str(io_type, value)
    if io_type in ("dict", "dict_of_dicts", "metadata"):
        return _to_dict(io_type, value)
    if io_type == "list":
        found = _parse_json(value, list, "list") if isinstance(value, str) else value
        if isinstance(found, list):
            return found
        raise TypeMismatch(f"expected list, got {_show(value)}")
    return value


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise TypeMismatch(f"expected int, got {_show(value)}")


def _to_float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise TypeMismatch(f"expected float, got {_show(value)}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeMismatch(f"expected bool, got {_show(value)}")


def _to_str(io_type: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    # YAML reads an unquoted 2021-01-01 as a date; a str-like input wants the text back.
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeMismatch(f"expected {io_type}, got {_show(value)}")


def _to_dict(io_type: str, value: Any) -> dict[str, Any]:
    found = _parse_json(value, dict, io_type) if isinstance(value, str) else value
    if not isinstance(found, dict):
        raise TypeMismatch(f"expected {io_type}, got {_show(value)}")
    if io_type == "dict_of_dicts" and not all(isinstance(v, dict) for v in found.values()):
        raise TypeMismatch(f"expected dict_of_dicts, got {_show(value)}")
    return found


def _parse_json(text: str, kind: type, name: str) -> Any:
    try:
        found = json.loads(text)
    except ValueError:
        raise TypeMismatch(f"expected {name}, got {_show(text)}") from None
    if not isinstance(found, kind):
        raise TypeMismatch(f"expected {name}, got {_show(text)}")
    return found


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class V1IO(SpecModel):
    """One declared input or output of a component.

    As in Polyaxon, giving a `value` (a default, even null) makes the IO optional unless
    `isOptional: false` says otherwise, which is a contradiction; `isFlag` only goes on a bool.
    `options` is the older spelling of `validation.options`.
    """

    name: str
    description: str | None = None
    type: str | None = None
    value: Any = None
    is_optional: bool | None = None
    is_list: bool | None = None
    is_flag: bool | None = None
    arg_format: str | None = None
    delay_validation: bool | None = None
    options: list[Any] | None = None
    validation: V1Validation | None = None
    to_env: str | None = None
    to_init: bool | None = None
    connection: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_default_makes_it_optional(cls, data: Any) -> Any:
        # polyaxon/_flow/io/io.py (handle_validation): a declared `value` implies isOptional.
        if isinstance(data, dict) and "value" in data:
            if "isOptional" not in data and "is_optional" not in data:
                return {**data, "isOptional": True}
        return data

    @field_validator("name")
    @classmethod
    def _name_is_usable(cls, name: str) -> str:
        if not name or "." in name:
            raise ValueError(f"{name!r} is not a valid name: it must be non-empty, without dots")
        return name

    @field_validator("type")
    @classmethod
    def _type_is_known(cls, io_type: str | None) -> str | None:
        if io_type is None or io_type in IO_TYPES:
            return io_type
        hint = did_you_mean(io_type, sorted(IO_TYPES), f"expected one of {sorted(IO_TYPES)}")
        raise ValueError(f"unknown type {io_type!r}; {hint}")

    @model_validator(mode="after")
    def _value_fits_type(self) -> Self:
        if self.is_flag and self.type not in (None, "bool"):
            raise located_error(("isFlag",), f"a flag must have type bool, not {self.type!r}")
        if self.value is None:
            return self
        if not self.is_optional:
            reason = "a default value makes the input optional: remove it or isOptional: false"
            raise located_error(("value",), reason)
        if not is_template(self.value) and not self.delayed:
            try:
                self.check(coerce(self.type, self.value, is_list=bool(self.is_list)))
            except (TypeMismatch, ValidationFailed) as exc:
                raise located_error(("value",), str(exc)) from None
        return self

    @property
    def required(self) -> bool:
        return not self.is_optional and self.value is None

    @property
    def delayed(self) -> bool:
        """True when the value is only checked once the run has produced it."""
        if self.validation is not None and self.validation.delay is not None:
            return self.validation.delay
        return bool(self.delay_validation)

    def check(self, typed: Any) -> None:
        """Raise ValidationFailed when a typed value breaks `options` or `validation`."""
        if typed is None:
            return
        if self.options is not None and typed not in self.options:
            raise ValidationFailed(f"{typed!r} is not one of {self.options}")
        if self.validation is not None:
            self.validation.check(typed)


# The keys that mark a mapping as a param's full form rather than a short-form dict value
# (`connection` alone: the value comes from elsewhere, e.g. a build's context from the event).
_FULL_FORM_KEYS = frozenset({"value", "ref", "connection"})
# `ref:` names what a param's value is read from: the dag, an upstream op, or a past run.
_REF = re.compile(r"^(dag|ops\.[-a-zA-Z0-9_]+|runs\.[0-9a-fA-F-]{32,36})$")
_CONTEXTS = ("inputs", "outputs", "io", "artifacts")
_NESTED_CONTEXTS = ("inputs", "outputs", "artifacts", "globals")


def ref_value_parts(value: str) -> list[str]:
    """`outputs.loss` or `{{ outputs.loss }}` → ["outputs", "loss"]."""
    text = value.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2]
    return [part.strip() for part in text.split(".")]


def ref_value_error(ref: str, value: Any) -> str | None:
    """Why `value` cannot be read from `ref`, or None when it can (Polyaxon's grammar)."""
    if not isinstance(value, str):
        return f"with a ref, the value names what to read, e.g. outputs.loss; got {value!r}"
    parts = ref_value_parts(value)
    if len(parts) > 3 or not all(parts):
        return f"cannot read {value!r}: expected e.g. outputs.loss or artifacts.name"
    if len(parts) == 1 and parts[0] not in _CONTEXTS:
        return f"{value!r} must be one of {list(_CONTEXTS)} or a field of one"
    if len(parts) == 1 and ref == "dag" and parts[0] == "outputs":
        return "the outputs of the current dag cannot be read from inside it"
    if len(parts) == 2 and parts[0] not in _NESTED_CONTEXTS:
        return f"{parts[0]!r} must be one of {list(_NESTED_CONTEXTS)}"
    if len(parts) == 3 and parts[0] != "artifacts":
        return f"only artifacts has three parts, not {parts[0]!r}"
    return None


class V1Param(SpecModel):
    """A value for an input or output: `lr: 0.1`, or the full `lr: {value: 0.1, toEnv: LR}`.

    A mapping is read as the full form when it has a `value`, `ref` or `connection` key; to
    pass a dict that itself has such a key, use the full form: `{value: {value: 1}}`. With `ref`
    (`dag`, `ops.NAME` or `runs.UUID`) the value names what to read: `outputs.loss`,
    `inputs.lr`, `artifacts.lineage`, `globals.uuid`...
    """

    value: Any = None
    ref: str | None = None
    context_only: bool | None = None
    to_env: str | None = None
    to_init: bool | None = None
    connection: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, V1Param):
            return data
        if isinstance(data, dict) and _FULL_FORM_KEYS & data.keys():
            return data
        return {"value": data}

    @model_validator(mode="after")
    def _ref_is_readable(self) -> Self:
        if self.ref is None:
            return self
        if not _REF.match(self.ref):
            reason = f"{self.ref!r} is not a ref: expected dag, ops.NAME or runs.UUID"
            raise located_error(("ref",), reason)
        if self.ref.startswith("runs."):
            try:
                uuid.UUID(self.ref[5:])
            except ValueError:
                raise located_error(("ref",), f"{self.ref[5:]!r} is not a run uuid") from None
        problem = ref_value_error(self.ref, self.value)
        if problem:
            raise located_error(("value",), problem)
        return self

    @property
    def upstream(self) -> str | None:
        """The upstream operation's name for `ref: ops.NAME`, else None."""
        return self.ref[4:] if self.ref and self.ref.startswith("ops.") else None
