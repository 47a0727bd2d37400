"""The Matcher interface and the verdicts and decisions it produces."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from schemas.event import Event


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


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
    """Whether one subscription wants one event, with the reason of every check."""

    subscription_id: int
    subscription: str
    matched: bool
    checks: tuple[Check, ...] = field(default_factory=tuple)

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
