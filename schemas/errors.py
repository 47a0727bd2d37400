"""Errors that name the place and the reason."""

from __future__ import annotations


class AxonError(Exception):
    """Base of Axon's own errors."""


class SpecError(AxonError):
    """A spec or subscription is invalid at `path` (dotted), optionally at a source `line` and
    `column` (both 1-based)."""

    def __init__(
        self, path: str, reason: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        self.column = column
        where = ""
        if line:
            where = f" (line {line}, column {column})" if column else f" (line {line})"
        super().__init__(f"{path or '<root>'}: {reason}{where}")

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"path": self.path, "reason": self.reason, "line": self.line}
        if self.column is not None:
            found["column"] = self.column
        return found


class SpecErrors(AxonError):
    """Several located SpecErrors found in one document."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class PayloadError(AxonError):
    """A delivery's body cannot be understood: `provider event: field 'x' missing`."""


class SignatureError(AxonError):
    """A delivery's signature or token is missing or wrong."""


class UnknownPlugin(AxonError, LookupError):
    """A registry has no plugin by that name."""
