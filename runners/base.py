"""The Runner interface: submit a compiled run, cancel it, observe what happens to it."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from schemas.status import RunStatus


class RunnerUnavailable(Exception):
    """The backend cannot be reached now; the same call may succeed later."""


@dataclass(frozen=True)
class GitCheckout:
    """The repository and commit a run works on."""

    url: str
    sha: str = ""
    ref: str = ""


@dataclass(frozen=True)
class RunSpec:
    """What a runner needs to start one run; `component` is the compiled spec for richer runners."""

    uuid: str
    name: str
    project: str
    command: list[str]
    image: str = ""
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    git: GitCheckout | None = None
    component: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """What a runner saw happen to a run. The agent turns it into a transition."""

    external_id: str
    status: RunStatus
    reason: str = ""
    message: str = ""
    at: datetime | None = None
    exit_code: int | None = None


class Runner(ABC):
    """One execution backend. Never writes Axon's state; reports what it sees."""

    name: ClassVar[str]
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (RunnerUnavailable,)

    @abstractmethod
    def submit(self, spec: RunSpec) -> str:
        """Required. Start the run and return its external id; idempotent on `spec.uuid`."""

    @abstractmethod
    def cancel(self, external_id: str) -> None:
        """Required. Stop the run; a run already gone is not an error."""

    @abstractmethod
    def observe(self, stop: threading.Event | None = None) -> Iterator[Observation]:
        """Required. Observations as they happen, until `stop` is set; current state first."""

    def logs(self, external_id: str) -> str:
        """Optional. The run's logs so far."""
        return ""
