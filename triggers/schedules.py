"""Schedules: when a subscription fires on its own, and what to do about slots that were missed.

Spec (one entry of a subscription's `on.schedule` list, or Polyaxon's `kind:` form):
`{cron: "0 3 * * *", timezone: Europe/Paris}`, `{interval: 3600}` (Polyaxon: `frequency`),
`{datetime: 2026-12-01T00:00Z}` (Polyaxon: `kind: datetime, startAt: ...`), each optionally with
`startAt`, `endAt`, `maxRuns`, `dependsOnPast`, `catchUp` (none, latest, all),
`startingDeadlineSeconds`, `concurrencyPolicy` (Allow, Forbid, Replace) and `jitter` (seconds).
Times are tz-aware; a naive time is UTC.

Slots missed (Axon was down, the subscription paused) go by `catchUp`: `none` fires a slot only
within 60 s of its time (or startingDeadlineSeconds); `latest`, the default as for a Kubernetes
CronJob, fires the most recent one (if within startingDeadlineSeconds); `all` fires every one
within startingDeadlineSeconds, oldest first, at most 100. Slots not fired are reported with the
reason. `jitter` delays each slot by a hash of the schedule and the slot, so every scheduler
agrees on it; it should be shorter than the period.

Daylight saving time, for a cron in a zone that has it (as Vixie cron behaves):
- spring forward: a slot whose wall time does not exist that day (02:30 in Europe/Paris on the
  last Sunday of March) fires once, at the first instant after the gap (03:00 CEST); slots of an
  expression with `*` in its minute or hour field that fall in the gap are simply not there.
- fall back: a wall time that happens twice (02:30 in Europe/Paris on the last Sunday of October)
  fires once, at its first occurrence, unless the minute or hour field starts with `*` (an hourly
  job runs in both hours, as the clock says it should).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from schemas.errors import SpecError

KINDS = ("cron", "interval", "datetime")
CATCH_UP = ("none", "latest", "all")
POLICIES = ("Allow", "Forbid", "Replace")
COMMON = {
    "kind",
    "timezone",
    "startAt",
    "endAt",
    "maxRuns",
    "dependsOnPast",
    "catchUp",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "jitter",
}
OF_KIND = {"cron": {"cron"}, "interval": {"interval", "frequency"}, "datetime": {"datetime"}}
# `catchUp: none` fires a slot only this close to its time, unless startingDeadlineSeconds says.
ON_TIME = timedelta(seconds=60)
# `catchUp: all` fires at most this many missed slots, as a Kubernetes CronJob gives up past 100.
MAX_CATCH_UP = 100
TICK = timedelta(microseconds=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _time(value: Any, path: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SpecError(path, f"not an ISO 8601 time: {value!r}") from exc
    if not isinstance(value, datetime):
        raise SpecError(path, "expected an ISO 8601 time")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _seconds(value: Any, path: str, positive: bool = True) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or value < 0 or (positive and value == 0):
        raise SpecError(
            path, f"expected a {'positive' if positive else 'non-negative'} number of seconds"
        )
    return float(value)


def _choice(
    value: dict[str, Any], key: str, path: str, known: tuple[str, ...], default: str
) -> str:
    chosen = value.get(key, default)
    if chosen not in known:
        raise SpecError(f"{path}.{key}", f"expected one of {', '.join(known)}, not {chosen!r}")
    return str(chosen)


@dataclass(frozen=True)
class Plan:
    """What a scheduler does at one moment with the slots from the first undecided one on."""

    fire: tuple[datetime, ...]  # slots to fire, oldest first
    skip: tuple[tuple[datetime, str], ...]  # (slot, why), a whole run of missed slots as one
    next_slot: datetime | None  # the first slot left undecided; None when there is no more


@dataclass(frozen=True)
class Schedule:
    """One schedule entry, checked: its kind and time, its limits and its policies."""

    kind: str
    cron: str = ""
    interval: timedelta | None = None
    at: datetime | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None
    depends_on_past: bool = False
    catch_up: str = "latest"
    starting_deadline: timedelta | None = None
    concurrency: str = "Allow"
    jitter: timedelta = timedelta(0)

    @classmethod
    def from_spec(cls, value: Any, path: str) -> Schedule:
        """A schedule from its spec; SpecError names the field and the reason."""
        if not isinstance(value, dict):
            raise SpecError(path, f"expected a mapping with one of {', '.join(KINDS)}")
        kind = value.get("kind") or _kind_of(value, path)
        if kind is None:
            raise SpecError(path, f"say when: one of {', '.join(KINDS)}")
        if kind not in KINDS:
            raise SpecError(f"{path}.kind", f"expected one of {', '.join(KINDS)}")
        keys = set(map(str, value))
        known = COMMON | {k for ks in OF_KIND.values() for k in ks}
        unknown = sorted(keys - known)
        if unknown:
            raise SpecError(
                f"{path}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(known))}"
            )
        foreign = sorted((keys - COMMON) - OF_KIND[kind])
        if foreign:
            raise SpecError(f"{path}.{foreign[0]}", f"not a key of a {kind} schedule")
        return cls._of_kind(kind, value, path, _common(value, path))

    @classmethod
    def _of_kind(
        cls, kind: str, value: dict[str, Any], path: str, common: dict[str, Any]
    ) -> Schedule:
        if kind == "cron":
            expression = value.get("cron")
            if not isinstance(expression, str) or not croniter.is_valid(expression):
                raise SpecError(f"{path}.cron", f"not a valid cron expression: {expression!r}")
            return cls("cron", cron=expression, **common)
        if kind == "interval":
            key = "interval" if "interval" in value else "frequency"
            seconds = _seconds(value.get(key), f"{path}.{key}")
            return cls("interval", interval=timedelta(seconds=seconds), **common)
        if "datetime" not in value and "startAt" not in value:
            raise SpecError(f"{path}.datetime", "required: when to fire, an ISO 8601 time")
        at = value.get("datetime", value.get("startAt"))
        return cls("datetime", at=_time(at, f"{path}.datetime"), **common)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None when there is no more."""
        after = max(after, self.start_at - TICK) if self.start_at else after
        if self.kind == "cron":
            found = self._cron_after(after)
        elif self.kind == "interval":
            assert self.interval is not None
            origin = self.start_at or _EPOCH
            steps = (after - origin) // self.interval + 1
            found = origin + self.interval * max(steps, 0)
        else:
            found = self.at if self.at and self.at > after else None
        if found is None or (self.end_at and found > self.end_at):
            return None
        return found.astimezone(UTC)

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last fire time at or before `moment` (UTC), or None when there was none."""
        if self.end_at and moment > self.end_at:
            moment = self.end_at
        if self.start_at and moment < self.start_at:
            return None
        if self.kind == "interval":
            assert self.interval is not None
            origin = self.start_at or _EPOCH
            if moment < origin:
                return None
            return (origin + self.interval * ((moment - origin) // self.interval)).astimezone(UTC)
        if self.kind == "datetime":
            return self.at.astimezone(UTC) if self.at and self.at <= moment else None
        return self._cron_at_or_before(moment)

    def offset(self, slot: datetime, key: str) -> timedelta:
        """This slot's jitter: the same for every scheduler, since it hashes `key` and the slot."""
        if not self.jitter:
            return timedelta(0)
        digest = hashlib.sha256(f"{key}|{slot.astimezone(UTC).isoformat()}".encode()).digest()
        share = int.from_bytes(digest[:8], "big") / 2**64
        return timedelta(milliseconds=int(share * self.jitter.total_seconds() * 1000))

    def due_at(self, slot: datetime, key: str) -> datetime:
        """When `slot` is to fire: its time plus its jitter."""
        return slot + self.offset(slot, key)

    def plan(self, cursor: datetime, now: datetime, key: str) -> Plan:
        """What to do at `now` with the slots from `cursor` (the first undecided) on."""
        if self.due_at(cursor, key) > now:
            return Plan((), (), cursor)
        following = self.next_after(cursor)
        if following is None or self.due_at(following, key) > now:
            # The usual tick: one slot due, so no walking back through croniter.
            if self._late(cursor, now, key):
                return Plan((), ((cursor, self._missed(cursor, cursor, now, key)),), following)
            return Plan((cursor,), (), following)
        latest = self._latest_due(cursor, now, key)
        if latest is None:
            return Plan((), (), cursor)
        if self.catch_up == "all":
            fire, older = self._newest_in_time(cursor, latest, now, key)
        else:
            in_time = not self._late(latest, now, key)
            fire = [latest] if in_time else []
            older = self.latest_at_or_before(latest - TICK) if in_time else latest
        skip = []
        if older is not None and older >= cursor:
            skip.append((cursor, self._missed(cursor, older, now, key)))
        return Plan(tuple(fire), tuple(skip), self.next_after(latest))

    def end_reason(self, fired: int, next_slot: datetime | None) -> str:
        """Why the schedule has ended after `fired` runs, or "" while it has more to fire."""
        if self.max_runs is not None and fired >= self.max_runs:
            return f"maxRuns {self.max_runs} reached"
        if next_slot is not None:
            return ""
        if self.kind == "datetime":
            return f"its one slot, {self.at.isoformat() if self.at else ''}, has passed"
        if self.end_at is not None:
            return f"no slot left before endAt {self.end_at.isoformat()}"
        return "the expression has no slot left"

    @property
    def deadline(self) -> timedelta | None:
        """How late a slot may still fire; None: however late."""
        if self.starting_deadline is not None:
            return self.starting_deadline
        return ON_TIME if self.catch_up == "none" else None

    def _late(self, slot: datetime, now: datetime, key: str) -> bool:
        return self.deadline is not None and now - self.due_at(slot, key) > self.deadline

    def _latest_due(self, cursor: datetime, now: datetime, key: str) -> datetime | None:
        slot = self.latest_at_or_before(now)
        # Jitter can hold back the newest slots; slots keep their order all the same.
        for _ in range(MAX_CATCH_UP):
            if slot is None or slot < cursor or self.due_at(slot, key) <= now:
                break
            slot = self.latest_at_or_before(slot - TICK)
        if slot is None or slot < cursor or self.due_at(slot, key) > now:
            return None
        return slot

    def _newest_in_time(
        self, cursor: datetime, latest: datetime, now: datetime, key: str
    ) -> tuple[list[datetime], datetime | None]:
        """`catchUp: all`: the newest slots still in time, oldest first, and the one before."""
        fire: list[datetime] = []
        slot: datetime | None = latest
        while slot is not None and slot >= cursor and len(fire) < MAX_CATCH_UP:
            if self._late(slot, now, key):
                break
            fire.append(slot)
            slot = self.latest_at_or_before(slot - TICK)
        return fire[::-1], slot

    def _missed(self, first: datetime, last: datetime, now: datetime, key: str) -> str:
        count, slot = 1, self.next_after(first)
        while count <= MAX_CATCH_UP and slot is not None and slot <= last:
            count, slot = count + 1, self.next_after(slot)
        many = f"more than {MAX_CATCH_UP}" if count > MAX_CATCH_UP else str(count)
        span = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        if self._late(last, now, key):
            limit = int(self.deadline.total_seconds()) if self.deadline else 0
            why = f"older than the starting deadline ({limit}s, catchUp {self.catch_up})"
        elif self.catch_up == "all":
            why = f"beyond the {MAX_CATCH_UP} newest that catchUp all fires"
        else:
            why = f"catchUp {self.catch_up} fires only the most recent"
        return f"missed: {many} slot(s) from {span}; {why}"

    def _cron_after(self, after: datetime) -> datetime | None:
        zone = ZoneInfo(self.timezone)
        found = after
        # A fixed wall time that the fall-back hour repeats fires at its first occurrence only.
        for _ in range(4):
            try:
                local = croniter(self.cron, found.astimezone(zone)).get_next(datetime)
            except (CroniterBadCronError, CroniterBadDateError):
                return None
            found = local.astimezone(UTC)
            if not self._repeated(found, zone):
                return found
        return None

    def _cron_at_or_before(self, moment: datetime) -> datetime | None:
        zone = ZoneInfo(self.timezone)
        anchor = moment + TICK
        try:
            # Two steps back from croniter, then forward with next_after, which is the
            # definition: croniter's own backward steps see the fall-back repeats.
            for _ in range(2):
                anchor = croniter(self.cron, anchor.astimezone(zone)).get_prev(datetime)
        except (CroniterBadCronError, CroniterBadDateError):
            return None
        best, slot = None, self.next_after(anchor.astimezone(UTC) - TICK)
        while slot is not None and slot <= moment:
            best, slot = slot, self.next_after(slot)
        return best

    def _repeated(self, instant: datetime, zone: ZoneInfo) -> bool:
        """Whether `instant` is the second occurrence of a wall time and the job is fixed."""
        local = instant.astimezone(zone)
        if not local.fold or local.replace(fold=0).astimezone(UTC) == instant:
            return False
        fields = self.cron.split()
        wildcard = fields[0] == "@hourly" or any(f.startswith("*") for f in fields[:2])
        return not wildcard


def entries(spec: Any) -> list[Any]:
    """A subscription's `on.schedule` entries (one mapping counts as a list of one)."""
    on = spec.get("on") if isinstance(spec, dict) else None
    found = on.get("schedule") if isinstance(on, dict) else None
    return [found] if isinstance(found, dict) else list(found) if isinstance(found, list) else []


def _kind_of(value: dict[str, Any], path: str) -> str | None:
    given = [k for k in KINDS if k in value] or (["interval"] if "frequency" in value else [])
    if len(given) > 1:
        raise SpecError(f"{path}.{given[1]}", f"one schedule is one of {', '.join(KINDS)}")
    return given[0] if given else None


def _common(value: dict[str, Any], path: str) -> dict[str, Any]:
    """The keys every kind shares, checked."""
    zone = str(value.get("timezone") or "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SpecError(f"{path}.timezone", f"unknown IANA time zone {zone!r}") from exc
    common: dict[str, Any] = {"timezone": zone}
    for key, attr in (("startAt", "start_at"), ("endAt", "end_at")):
        if value.get(key) is not None:
            common[attr] = _time(value[key], f"{path}.{key}")
    if "start_at" in common and "end_at" in common and common["end_at"] < common["start_at"]:
        raise SpecError(f"{path}.endAt", "before startAt")
    if value.get("maxRuns") is not None:
        runs = value["maxRuns"]
        if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
            raise SpecError(f"{path}.maxRuns", "expected a positive integer")
        common["max_runs"] = runs
    if not isinstance(value.get("dependsOnPast", False), bool):
        raise SpecError(f"{path}.dependsOnPast", "expected true or false")
    common["depends_on_past"] = value.get("dependsOnPast", False)
    # A Kubernetes CronJob's defaults: start the most recent missed slot; allow overlaps.
    common["catch_up"] = _choice(value, "catchUp", path, CATCH_UP, "latest")
    common["concurrency"] = _choice(value, "concurrencyPolicy", path, POLICIES, "Allow")
    if value.get("startingDeadlineSeconds") is not None:
        limit = _seconds(value["startingDeadlineSeconds"], f"{path}.startingDeadlineSeconds")
        common["starting_deadline"] = timedelta(seconds=limit)
    if value.get("jitter") is not None:
        common["jitter"] = timedelta(
            seconds=_seconds(value["jitter"], f"{path}.jitter", positive=False)
        )
    return common
