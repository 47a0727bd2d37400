"""The Matcher interface, the verdicts and decisions it produces, and the spec error collector."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from schemas.errors import SpecError, SpecErrors
from schemas.event import Event

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """A matcher's answer. A comment command that passes also yields what it asks for."""

    ok: bool
    reason: str
    command: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One matcher's verdict on one event, named for the log."""

    name: str
    ok: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "reason": self.reason}


@dataclass(frozen=True)
class Decision:
    """Whether one subscription wants one event, with the reason of every check.

    `command` and `params` are set when a comment command matched (`/axon run train lr=0.1`
    gives "run" and {"lr": 0.1}); ci passes the params to the operation.
    """

    subscription_id: int
    subscription: str
    matched: bool
    checks: tuple[Check, ...] = field(default_factory=tuple)
    command: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        failed = [c.reason for c in self.checks if not c.ok]
        return "; ".join(failed) if failed else "all checks passed"


class Matcher(ABC):
    """One field of a subscription's filter."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_spec(cls, value: Any, path: str) -> Matcher:
        """Required. Build from the subscription's value at `path`; SpecError if invalid."""

    @abstractmethod
    def check(self, event: Event) -> Verdict:
        """Required. Whether `event` passes, and why (or why not)."""


class Errors(list[SpecError]):
    """Collects every bad field, so one answer lists them all."""

    def attempt(self, build: Callable[[], T]) -> T | None:
        try:
            return build()
        except SpecErrors as exc:
            self.extend(exc.errors)
        except SpecError as exc:
            self.append(exc)
        return None

    def raise_any(self) -> None:
        if len(self) == 1:
            raise self[0]
        if self:
            raise SpecErrors(list(self))
