"""An input's or output's `validation` predicates (V1Validation) and how a value is checked."""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import model_validator

from schemas.spec_base import SpecModel, located_error


class ValidationFailed(ValueError):
    """A value breaks one of the predicates; the message names the value and the predicate."""


class V1Validation(SpecModel):
    """Predicates a value must satisfy; items of a list and values of a dict are checked one by
    one, and `minItems`/`maxItems`/`keys`... apply to the collection itself."""

    delay: bool | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    multiple_of: float | None = None
    min_digits: int | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    regex: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    contains: Any = None
    excludes: Any = None
    options: list[Any] | None = None
    min_items: int | None = None
    max_items: int | None = None
    keys: list[str] | None = None
    contains_keys: list[str] | None = None
    excludes_keys: list[str] | None = None

    @model_validator(mode="after")
    def _regex_compiles(self) -> Self:
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise located_error(("regex",), f"not a valid regular expression: {exc}") from None
        if self.multiple_of == 0:
            raise located_error(("multipleOf",), "must not be 0")
        return self

    def check(self, value: Any) -> None:
        """Raise ValidationFailed for the first predicate `value` breaks; None passes."""
        if value is None:
            return
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, list | tuple | set | dict):
            for item in items:
                self._check_one(item)
            self._check_collection(value)
        else:
            self._check_one(value)

    def _check_one(self, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            self._check_number(value)
        if isinstance(value, str):
            self._check_text(value)
        if self.options is not None and value not in self.options:
            raise ValidationFailed(f"{value!r} is not one of {self.options}")
        if self.contains is not None and not _has(value, self.contains):
            raise ValidationFailed(f"{value!r} does not contain {self.contains!r}")
        if self.excludes is not None and _has(value, self.excludes):
            raise ValidationFailed(f"{value!r} contains {self.excludes!r}")

    def _check_number(self, value: float) -> None:
        bounds = (
            (self.gt, lambda b: value > b, "greater than"),
            (self.ge, lambda b: value >= b, "greater than or equal to"),
            (self.lt, lambda b: value < b, "less than"),
            (self.le, lambda b: value <= b, "less than or equal to"),
        )
        for bound, holds, words in bounds:
            if bound is not None and not holds(bound):
                raise ValidationFailed(f"{value!r} must be {words} {bound:g}")
        if self.multiple_of is not None and value % self.multiple_of != 0:
            raise ValidationFailed(f"{value!r} must be a multiple of {self.multiple_of:g}")
        digits = str(value).lstrip("-")
        count = len(digits.replace(".", ""))
        if self.min_digits is not None and count < self.min_digits:
            raise ValidationFailed(f"{value!r} must have at least {self.min_digits} digits")
        if self.max_digits is not None and count > self.max_digits:
            raise ValidationFailed(f"{value!r} must have at most {self.max_digits} digits")
        places = len(digits.split(".")[1]) if "." in digits else 0
        if self.decimal_places is not None and places > self.decimal_places:
            raise ValidationFailed(
                f"{value!r} must have at most {self.decimal_places} decimal places"
            )

    def _check_text(self, value: str) -> None:
        if self.regex is not None and not re.match(self.regex, value):
            raise ValidationFailed(f"{value!r} does not match {self.regex!r}")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValidationFailed(f"{value!r} is shorter than {self.min_length} characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationFailed(f"{value!r} is longer than {self.max_length} characters")

    def _check_collection(self, value: Any) -> None:
        if self.min_items is not None and len(value) < self.min_items:
            raise ValidationFailed(f"has {len(value)} items; at least {self.min_items} needed")
        if self.max_items is not None and len(value) > self.max_items:
            raise ValidationFailed(f"has {len(value)} items; at most {self.max_items} allowed")
        if not isinstance(value, dict):
            return
        if self.keys is not None and set(value) != set(self.keys):
            raise ValidationFailed(f"keys {sorted(value)} are not exactly {sorted(self.keys)}")
        missing = [k for k in self.contains_keys or () if k not in value]
        if missing:
            raise ValidationFailed(f"missing keys {missing}")
        present = [k for k in self.excludes_keys or () if k in value]
        if present:
            raise ValidationFailed(f"must not have keys {present}")


def _has(value: Any, part: Any) -> bool:
    try:
        return part in value
    except TypeError:
        return False
