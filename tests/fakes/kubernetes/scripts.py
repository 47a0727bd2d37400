"""How a test says what the simulated pods do (`PodScript`) and how fast the controllers are."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tests.fakes.kubernetes.selectors import LabelSelector, parse_label_selector


@dataclass(frozen=True)
class PodScript:
    """What one run of a pod's containers does, in simulated seconds.

    - `exit_code` after `duration` seconds of running (`duration=None`: runs until deleted);
    - `logs`: lines written to the first container's log, spread over the run;
    - `start_delay`: time spent in ContainerCreating (pulling) before the containers start;
    - `image_pull_error`: the pull fails with this message: ErrImagePull, then ImagePullBackOff;
    - `config_error`: CreateContainerConfigError with this message (a missing Secret, say);
    - `oom`: the container is killed with OOMKilled (exit code 137) at the end of the run;
    - `termination_message`: what the first container wrote to its terminationMessagePath
      (a builder's digest), reported as `state.terminated.message` when it exits 0;
    - `unschedulable`: the scheduler's message; the pod stays Pending with PodScheduled False
      (for `unschedulable_for` seconds when given: then a node frees up and it is scheduled).
    """

    exit_code: int = 0
    duration: float | None = 0.2
    logs: Sequence[str] = ()
    start_delay: float = 0.0
    image_pull_error: str | None = None
    config_error: str | None = None
    oom: bool = False
    unschedulable: str | None = None
    unschedulable_for: float | None = None
    termination_message: str | None = None

    @property
    def code(self) -> int:
        return 137 if self.oom else self.exit_code

    @property
    def reason(self) -> str:
        if self.oom:
            return "OOMKilled"
        return "Completed" if self.exit_code == 0 else "Error"


RUN_FOREVER = PodScript(duration=None)


@dataclass(frozen=True)
class Timing:
    """The simulated controllers' delays in simulated seconds; `realistic()` gives a cluster's.

    The defaults are compressed so that a retry or a back-off costs milliseconds in a test.
    """

    pod_backoff: float = 0.02  # a Job's replacement of a failed pod: 10 s, doubling
    pod_backoff_cap: float = 0.5  # 6 min
    crash_backoff: float = 0.02  # CrashLoopBackOff before a restart: 10 s, doubling
    crash_backoff_cap: float = 0.5  # 5 min
    image_pull_backoff: float = 0.02  # ErrImagePull, then ImagePullBackOff
    container_start: float = 0.0  # sandbox and pull before the containers start
    termination: float = 0.01  # a deleted pod's containers stopping

    @classmethod
    def realistic(cls) -> Timing:
        return cls(
            pod_backoff=10.0,
            pod_backoff_cap=360.0,
            crash_backoff=10.0,
            crash_backoff_cap=300.0,
            image_pull_backoff=5.0,
            container_start=1.0,
            termination=1.0,
        )

    def backoff(self, base: float, cap: float, failures: int) -> float:
        return min(base * 2 ** max(failures - 1, 0), cap)


@dataclass
class Registration:
    """Scripts for the pods a target names, used in turn; the last one repeats."""

    target: str
    scripts: tuple[PodScript, ...]
    selector: LabelSelector | None = None
    used: int = 0

    def matches(self, labels: Mapping[str, str], names: Iterable[str]) -> bool:
        if self.selector is not None:
            return self.selector.matches(labels)
        return self.target in names

    def next(self) -> PodScript:
        script = self.scripts[min(self.used, len(self.scripts) - 1)]
        self.used += 1
        return script


@dataclass
class ScriptBook:
    """The registrations, newest first: a later `script()` for the same pods wins."""

    default: PodScript = field(default_factory=PodScript)
    registrations: list[Registration] = field(default_factory=list)

    def add(self, target: str, scripts: Sequence[PodScript]) -> Registration:
        if not scripts:
            raise ValueError("script() needs at least one PodScript")
        is_selector = any(mark in target for mark in "=!(") or " in " in f" {target} "
        selector = parse_label_selector(target) if is_selector else None
        registration = Registration(target, tuple(scripts), selector)
        self.registrations.insert(0, registration)
        return registration

    def find(self, labels: Mapping[str, str], names: Iterable[str]) -> Registration | None:
        names = set(names)
        for registration in self.registrations:
            if registration.matches(labels, names):
                return registration
        return None
