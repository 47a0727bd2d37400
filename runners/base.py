"""The Runner interface: submit a compiled run, cancel it, observe what happens to it."""

from __future__ import annotations

import contextlib
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from runners.services import ServiceRequest, ServiceResponse
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
class SecretMount:
    """A connection's secret values as a run receives them: variables, and files under `path`.

    The core opens them at launch; a runner passes them on and keeps them out of the run's
    spec as users see it. The values never show in a repr, so a spec may be logged.
    """

    name: str
    env: dict[str, str] = field(default_factory=dict, repr=False)
    files: dict[str, str] = field(default_factory=dict, repr=False)
    path: str = ""  # where the files go in a container; the local runner uses its run dir
    main: bool = True  # named by `run.connections`: the main containers get it
    init_steps: tuple[int, ...] = ()  # the `run.init` steps naming it (`connection:`) get its env

    @property
    def path_variable(self) -> str:
        """The variable that tells the job where the files are."""
        return "AXON_CONNECTION_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_PATH"


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
    # Tries before this one: a run the core retries (or resumes) is submitted again with it.
    attempt: int = 0
    # The project's connections the run names, opened (`run.connections` keeps the names
    # no connection has: on Kubernetes, existing Secrets).
    mounts: tuple[SecretMount, ...] = ()


@dataclass(frozen=True)
class Observation:
    """What a runner saw happen to a run. The agent turns it into a transition."""

    external_id: str
    status: RunStatus
    reason: str = ""
    message: str = ""
    at: datetime | None = None
    exit_code: int | None = None
    # What the run produced that only the backend saw (a builder's pushed image), merged
    # into the run's outputs with this status.
    outputs: dict[str, Any] | None = None


class Runner(ABC):
    """One execution backend. Never writes Axon's state; reports what it sees.

    Beside the three required methods, every capability the core uses is declared here with
    a default that means "this backend cannot": a runner overrides those it offers.
    """

    name: ClassVar[str]
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (RunnerUnavailable,)
    # The run kinds (`run.kind`) this backend can run; controllers (dag, matrix, schedule) are
    # the core's and need no runner.
    kinds: ClassVar[frozenset[str]] = frozenset({"job"})
    # Whether the backend carries out `termination.maxRetries` itself; if not, the core
    # submits a failed run again while it has retries left.
    retries_itself: ClassVar[bool] = False

    @classmethod
    def unsupported(cls, component: dict[str, Any]) -> list[tuple[str, str]]:
        """Optional. (path, reason) for each field of a compiled component (a dict, camelCase)
        this backend would have to ignore to run it; such a run is refused at compile time,
        never run without it. The default: none, for a backend that carries out every field."""
        return []

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

    def follow_logs(
        self, external_id: str, stop: threading.Event | None = None
    ) -> Iterator[str] | None:
        """Optional. The run's lines as they are written, until it ends or `stop` is set; read
        lazily, so nothing is fetched before the first line is asked for. None (the default):
        this backend cannot follow, and the run's logs are read once it has ended."""
        return None

    def outputs(self, external_id: str) -> Path | None:
        """Optional. The directory on this host where the run's job left its outputs
        (`AXON_OUTPUTS_PATH`), for the core to collect into the artifacts store once the run's
        end is recorded. None (the default): nothing to collect here (the backend's own
        collector uploads them, or its jobs keep none)."""
        return None

    def events(self, external_id: str) -> list[Any] | None:
        """Optional. The backend's recent events about the run (why it is pending). None (the
        default): this backend keeps no events."""
        return None

    def open_service(self, external_id: str, request: ServiceRequest) -> ServiceResponse | None:
        """Optional. Forward `request` to the service the run serves (`run.kind: service`) and
        return its answer; raises `ServiceUnreachable` when the run has no service to reach
        now, `ServiceForbidden` when Axon's own account may not reach it. A WebSocket handshake
        (`request.upgrade`) the service accepts is answered 101 with the connection in
        `upgraded`. None (the default): this backend cannot reach its runs' services."""
        return None

    def known_ids(self) -> set[str] | None:
        """Optional. The external ids of every run the backend holds now. None (the default):
        this backend cannot list them, so runs deleted while no agent watched are not found."""
        return None

    def recorded(self, external_id: str) -> None:
        """Optional. Axon has recorded the run's end and kept its logs: the backend may now let
        go of what it still holds of the run. The default holds nothing back."""
        return None

    @classmethod
    def limits_queues(cls) -> bool:
        """Optional. Whether `has_capacity` can say no, so that a run ending may make room for
        one waiting. The default answers whether the class overrides `has_capacity`."""
        return cls.has_capacity is not Runner.has_capacity

    def has_capacity(self, queue: str | None) -> bool:
        """Optional. Whether `queue` (None: the default queue) may take one more run now. The
        default: always, for a backend without concurrency limits."""
        return True

    def queue_limited(self, queue: str | None) -> bool:
        """Optional. Whether `queue` has a concurrency limit, so that each check of its capacity
        and the submit after it must take turns with other workers'. The default: whether this
        runner limits queues at all (one that cannot say per queue is taken to limit each)."""
        return self.limits_queues()

    @contextlib.contextmanager
    def submitting(self) -> Iterator[None]:
        """Optional. Submits made inside may still be in flight when they return; on leaving,
        each has been handed to the backend as surely as a `submit` alone hands it. For a
        caller submitting several runs before it commits. The default: each submit waits."""
        yield

    def close(self) -> None:
        """Optional. Release the backend's clients and connections; the default holds none."""
        return None
