"""Concurrency groups: whether a subscription's new run starts, waits or is dropped, and which
runs it supersedes. Pure: ci hands in the group's runs and carries out the answer.

`concurrency: "<template>"`, or a mapping:
- `group` (required): a Jinja template of `event` (its fields, as `event.ref`) and
  `subscription` (its name), such as `ref-{{ event.ref }}`; rendered in a sandbox with strict
  undefined, since event fields are attacker controlled;
- `cancelInProgress` (default false): a new run cancels the runs in progress in its group;
- `protect` (default main, master, release/*): branch globs whose runs are never cancelled,
  superseded or dropped; `[]` protects nothing;
- `debounce` (seconds, default 0): a new run waits that long, and a newer event in the group
  within the window supersedes it, so a burst of pushes starts one run;
- `queueLimit` (default 1, as GitHub keeps one pending run): how many runs may wait; past it
  the oldest waiting run is superseded. 0: a run that would wait is skipped.

The runs ci hands in are the group's runs that are not done: a run the group holds back has
status `on_schedule` (Polyaxon's status for a run waiting for its turn); every other status
but `stopping` holds the group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Template, TemplateError

from schemas.errors import SpecError
from schemas.event import Event, PullRequest
from schemas.sandbox import sandbox
from schemas.spelling import did_you_mean
from schemas.status import DONE, RunStatus
from triggers.globs import GlobList

KEYS = ("group", "cancelInProgress", "protect", "debounce", "queueLimit")
DEFAULT_PROTECT = ("main", "master", "release/*")
HELD = RunStatus.ON_SCHEDULE.value
IGNORED = frozenset({*DONE, RunStatus.STOPPING})
_SANDBOX = sandbox()
# Every field a template may name, so a misspelt one fails when the subscription is saved.
_SAMPLE = Event(kind="push", provider="github", pull_request=PullRequest(number=1, action="x"))


@dataclass(frozen=True)
class GroupRun:
    """A run of the group that is not done: waiting (`on_schedule`) or holding the group."""

    id: int
    status: str
    created_at: datetime
    ref: str = ""


@dataclass(frozen=True)
class Cancellation:
    run_id: int
    reason: str


@dataclass(frozen=True)
class Admission:
    """What to do with a new run: start, queue or skip it, and which runs to cancel first."""

    action: str
    group: str
    reason: str
    cancel: tuple[Cancellation, ...] = ()
    not_before: datetime | None = None  # a queued run with a debounce starts no sooner

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason, *(c.reason for c in self.cancel))


@dataclass(frozen=True)
class Turn:
    """Which waiting run may start now, if any; `at` is when to ask again."""

    run_id: int | None
    reason: str
    at: datetime | None = None


@dataclass(frozen=True)
class Concurrency:
    template: str
    cancel_in_progress: bool = False
    protect: GlobList | None = None
    debounce: timedelta = timedelta(0)
    queue_limit: int = 1
    compiled: Template | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_spec(cls, value: Any, path: str) -> Concurrency:
        spec = {"group": value} if isinstance(value, str) else value
        if not isinstance(spec, dict):
            raise SpecError(path, "expected a group template or a mapping with group")
        for key in sorted(set(map(str, spec)) - set(KEYS)):
            hint = did_you_mean(key, KEYS, f"known: {', '.join(KEYS)}")
            raise SpecError(f"{path}.{key}", f"unknown key; {hint}")
        compiled = _template(spec.get("group"), f"{path}.group")
        cancel = spec.get("cancelInProgress", False)
        if not isinstance(cancel, bool):
            raise SpecError(f"{path}.cancelInProgress", "expected true or false")
        protect = spec.get("protect", list(DEFAULT_PROTECT))
        globs = GlobList.from_spec(protect, f"{path}.protect") if protect != [] else None
        debounce = _number(spec.get("debounce", 0), f"{path}.debounce", "seconds")
        limit = _number(spec.get("queueLimit", 1), f"{path}.queueLimit", "runs")
        if not isinstance(limit, int):
            raise SpecError(f"{path}.queueLimit", "expected a whole number of runs")
        if debounce and not limit:
            raise SpecError(f"{path}.debounce", "a debounced run waits, so queueLimit must be 1+")
        window = timedelta(seconds=debounce)
        return cls(str(spec["group"]), cancel, globs, window, limit, compiled)

    def group(self, event: Event, subscription: str = "") -> str:
        """The group key for `event`; SpecError says why the template cannot render it."""
        compiled = self.compiled or _template(self.template, "concurrency.group")
        try:
            key = compiled.render(event=event.context(), subscription=subscription).strip()
        except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise SpecError("concurrency.group", f"cannot render the group: {exc}") from None
        if not key:
            raise SpecError("concurrency.group", f"the group renders empty for this {event.kind}")
        return key

    def protected(self, ref: str) -> str:
        """The protected branch `ref` is on, or "" (tags and pull request refs are not)."""
        branch = ref.removeprefix("refs/heads/")
        if self.protect is None or not branch or branch.startswith("refs/"):
            return ""
        return branch if self.protect.matches(branch) else ""

    def decide(
        self, event: Event, group: str, runs: list[GroupRun], now: datetime | None = None
    ) -> Admission:
        """Start, queue or skip the run `event` asks for, given the group's runs."""
        now = now or datetime.now(UTC)
        live = sorted((r for r in runs if r.status not in IGNORED), key=_age)
        cancel: list[Cancellation] = []
        kept = [r for r in live if r.status != HELD and not self._supersede(r, group, cancel)]
        waiting = [
            r for r in live if r.status == HELD and not self._debounce(r, group, cancel, now)
        ]
        if not kept and not waiting and not self.debounce:
            return Admission("start", group, f"started in group {group}", tuple(cancel))
        return self._queue(event, group, kept, waiting, cancel, now)

    def _supersede(self, run: GroupRun, group: str, cancel: list[Cancellation]) -> bool:
        """Whether the new run cancels `run`, which is in progress (noted in `cancel`)."""
        if not self.cancel_in_progress or self.protected(run.ref):
            return False
        cancel.append(Cancellation(run.id, f"cancelled run {run.id}: superseded in group {group}"))
        return True

    def _debounce(
        self, run: GroupRun, group: str, cancel: list[Cancellation], now: datetime
    ) -> bool:
        """Whether the new run supersedes `run`, which waits within the debounce window."""
        if not self.debounce or now - run.created_at >= self.debounce:
            return False
        if self.protected(run.ref):
            return False
        window = f"the {_secs(self.debounce)} debounce window of group {group}"
        cancel.append(Cancellation(run.id, f"cancelled run {run.id}: superseded within {window}"))
        return True

    def _queue(
        self,
        event: Event,
        group: str,
        kept: list[GroupRun],
        waiting: list[GroupRun],
        cancel: list[Cancellation],
        now: datetime,
    ) -> Admission:
        """The new run waits; make room for it, or skip it when no waiting run may go."""
        room, overflow = self.queue_limit - len(waiting), []
        for run in waiting:
            if room >= 1:
                break
            if not self.protected(run.ref):
                overflow.append(run)
                room += 1
        mine = self.protected(event.ref)
        ahead = kept + [r for r in waiting if r not in overflow]
        if room < 1 and not mine:
            return Admission("skip", group, self._full(group, ahead))
        limit = f"queueLimit {self.queue_limit}"
        for run in overflow:
            reason = f"cancelled run {run.id}: superseded in group {group} ({limit})"
            cancel.append(Cancellation(run.id, reason))
        notes = [f"queued in group {group}" + (f" behind {_runs(ahead)}" if ahead else "")]
        if self.cancel_in_progress:
            notes += [
                f"run {r.id} is on protected branch {self.protected(r.ref)!r}, never cancelled"
                for r in kept
            ]
        if room < 1:
            notes.append(f"past {limit}, since branch {mine!r} is protected")
        not_before = now + self.debounce if self.debounce else None
        if not_before is not None:
            notes.append(f"starts after {_secs(self.debounce)} unless a newer event supersedes it")
        return Admission("queue", group, "; ".join(notes), tuple(cancel), not_before)

    def _full(self, group: str, ahead: list[GroupRun]) -> str:
        if not self.queue_limit:
            return f"skipped: {_runs(ahead)} holds group {group}, and queueLimit is 0"
        count = len(ahead) - sum(r.status != HELD for r in ahead)
        return (
            f"skipped: group {group} already queues {count} run(s) on protected branches, "
            f"which are never superseded (queueLimit {self.queue_limit})"
        )

    def next_start(self, group: str, runs: list[GroupRun], now: datetime | None = None) -> Turn:
        """Which waiting run of the group may start now: ask when a run of the group ends, and
        at the `at` of the answer."""
        now = now or datetime.now(UTC)
        live = sorted((r for r in runs if r.status not in IGNORED), key=_age)
        running = [r for r in live if r.status != HELD]
        if running:
            return Turn(None, f"{_runs(running)} still holds group {group}")
        for run in live:
            due = run.created_at + self.debounce
            if due > now:
                return Turn(None, f"run {run.id} waits for its debounce window", due)
            return Turn(run.id, f"run {run.id} starts: group {group} is free")
        return Turn(None, f"no run waits in group {group}")


def _age(run: GroupRun) -> tuple[datetime, int]:
    return run.created_at, run.id


def _runs(runs: list[GroupRun]) -> str:
    ids = ", ".join(str(r.id) for r in runs)
    return f"run {ids}" if len(runs) == 1 else f"runs {ids}"


def _secs(window: timedelta) -> str:
    return f"{window.total_seconds():g} s"


def _number(value: Any, path: str, unit: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SpecError(path, f"expected a non-negative number of {unit}")
    return value


def _template(text: Any, path: str) -> Template:
    if not isinstance(text, str) or not text.strip():
        raise SpecError(path, "required: a template such as 'ref-{{ event.ref }}'")
    try:
        compiled = _SANDBOX.from_string(text)
        compiled.render(event=_SAMPLE.context(), subscription="sample")
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise SpecError(path, f"not a usable template: {exc}") from None
    return compiled
