"""The base of the subscription models: the user's key spellings, unknown keys refused, and every
problem a located error (the spec's `located_error`) that comes out as a SpecError at its path.

A matcher's `from_spec` raises SpecError with a path relative to what it was given; `located()`
turns those into pydantic errors below the model that called it, so one `model_validate` lists
every problem of a document, each at its place.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails

from schemas.errors import SpecError, SpecErrors
from schemas.spec_base import LOCATED_ERROR, located_error
from schemas.spec_source import Path, format_path

GLOBS = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ],
    "description": "a glob or a list of globs (GitHub Actions syntax; a leading ! negates)",
}
FLAG = {"type": "boolean"}


def names_schema(description: str, known: frozenset[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """A name or a non-empty list of them, from `known` when it is given."""
    item: dict[str, Any] = {"type": "string", "minLength": 1}
    if known:
        item["enum"] = sorted(known)
    return {
        "anyOf": [item, {"type": "array", "items": item, "minItems": 1}],
        "description": description,
    }


def parts(path: str) -> Path:
    """`operation.inputs[0].name` → ("operation", "inputs", 0, "name"); "" → ()."""
    # "²".isdigit() is true, but int() reads only ASCII digits.
    return tuple(
        int(p) if p.isascii() and p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)
    )


def located(errors: list[SpecError], at: Path = ()) -> None:
    """Raise SpecErrors (paths relative to the value being validated) as located pydantic errors;
    pydantic puts the place of that value in front of each."""
    if errors:
        details = [
            InitErrorDetails(
                type=located_error((*at, *parts(e.path)), e.reason), loc=(), input=None
            )
            for e in errors
        ]
        raise ValidationError.from_exception_data("subscription", details)


class TriggerModel(BaseModel):
    """A mapping of a subscription, in the user's spelling (`branches-ignore`, `queueLimit`).

    Subclasses word their refusals as the decision log and the API have always worded them:
    `unknown()` for a key the model lacks, `not_a_mapping` for a value that is no mapping.
    """

    model_config = ConfigDict(extra="forbid")

    not_a_mapping: ClassVar[str] = "input should be a mapping"
    # Whether a refused key leaves the others to be checked (and reported) all the same.
    check_the_rest: ClassVar[bool] = True

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"unknown key {key!r}"

    @classmethod
    def missing_reason(cls, key: str) -> str:
        return "field required"

    @classmethod
    def keys(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]

    @model_validator(mode="wrap")
    @classmethod
    def _in_own_words(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            return cls._compiled(data, handler, info)
        except ValidationError as exc:
            errors = exc.errors()
        bad = {error["loc"][0] for error in errors if error["loc"]}
        if cls.check_the_rest and isinstance(data, dict) and bad and all(e["loc"] for e in errors):
            # The other keys are still checked, so that one answer lists every problem; what
            # they say of a key already refused is left out.
            rest = {key: value for key, value in data.items() if key not in bad}
            try:
                if rest:  # nothing left would only be refused for being empty
                    cls._compiled(rest, handler, info)
            except ValidationError as exc:
                errors += [e for e in exc.errors() if not _under(e, bad)]
        # Misspelt keys first, as they explain what else looks wrong.
        errors.sort(key=lambda error: (0, str(error["loc"][0])) if _unknown_key(error) else (1, ""))
        details = [cls._reworded(error) for error in errors]
        raise ValidationError.from_exception_data(cls.__name__, details) from None

    @classmethod
    def _compiled(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        model = handler(data)
        model.compile(info)
        return model

    def compile(self, info: ValidationInfo) -> None:
        """Optional: build what the values stand for (matchers); `located()` their errors."""

    @classmethod
    def _reworded(cls, error: Any) -> InitErrorDetails:
        loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx") or {}
        if kind == LOCATED_ERROR:
            reason, at = ctx["reason"], ctx["at"]
        elif _unknown_key(error):
            reason, at = cls.unknown(str(loc[0])), ()
        elif kind in ("model_type", "model_attributes_type", "dict_type") and not loc:
            reason, at = cls.not_a_mapping, ()
        elif kind == "missing" and len(loc) == 1:
            reason, at = cls.missing_reason(str(loc[0])), ()
        else:
            message = error["msg"].removeprefix("Value error, ")
            reason, at = message[:1].lower() + message[1:], ()
        detail = located_error(at, reason)
        return InitErrorDetails(type=detail, loc=loc, input=error.get("input"))


def _under(error: Any, keys: set[Any]) -> bool:
    ctx = error.get("ctx") or {}
    place = (*error["loc"], *ctx.get("at", ()))
    return bool(place) and place[0] in keys


def _unknown_key(error: Any) -> bool:
    return bool(error["type"] == "extra_forbidden" and len(error["loc"]) == 1)


def spec_errors(exc: ValidationError) -> list[SpecError]:
    """The errors of a TriggerModel's validation as SpecErrors at their paths."""
    found = []
    for error in exc.errors():
        ctx = error.get("ctx") or {}
        loc = tuple(part for part in error["loc"] if part != "[key]")
        found.append(
            SpecError(format_path((*loc, *ctx.get("at", ()))), ctx.get("reason", error["msg"]))
        )
    return found


def raise_spec_errors(errors: list[SpecError]) -> None:
    """One SpecError as itself, several as SpecErrors, as triggers.base.Errors raises them."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SpecErrors(errors)
