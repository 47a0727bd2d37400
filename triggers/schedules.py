"""Schedules: when a subscription fires on its own (cron in an IANA time zone, interval, datetime).

Spec (one entry of a subscription's `on.schedule` list, or Polyaxon's `kind:` form):
`{cron: "0 3 * * *", timezone: Europe/Paris}`, `{interval: 3600}`, `{datetime: 2026-12-01T00:00Z}`,
each optionally with `startAt`, `endAt`, `maxRuns`. Times are tz-aware; a naive time is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from schemas.errors import SpecError

KINDS = ("cron", "interval", "datetime")
COMMON = {"kind", "timezone", "startAt", "endAt", "maxRuns"}


def _time(value: Any, path: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SpecError(path, f"not an ISO 8601 time: {value!r}") from exc
    if not isinstance(value, datetime):
        raise SpecError(path, "expected an ISO 8601 time")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Schedule:
    kind: str
    cron: str = ""
    interval: timedelta | None = None
    at: datetime | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None

    @classmethod
    def from_spec(cls, value: Any, path: str) -> Schedule:
        """A schedule from its spec; SpecError names the field and the reason."""
        if not isinstance(value, dict):
            raise SpecError(path, f"expected a mapping with one of {', '.join(KINDS)}")
        kind = value.get("kind") or next((k for k in KINDS if k in value), None)
        if kind not in KINDS:
            raise SpecError(path, f"say when: one of {', '.join(KINDS)}")
        unknown = sorted(set(value) - COMMON - {"frequency", *KINDS})
        if unknown:
            raise SpecError(f"{path}.{unknown[0]}", "unknown key")
        zone = str(value.get("timezone") or "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SpecError(f"{path}.timezone", f"unknown IANA time zone {zone!r}") from exc
        common: dict[str, Any] = {"timezone": zone}
        for key, attr in (("startAt", "start_at"), ("endAt", "end_at")):
            if value.get(key) is not None:
                common[attr] = _time(value[key], f"{path}.{key}")
        if value.get("maxRuns") is not None:
            runs = value["maxRuns"]
            if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
                raise SpecError(f"{path}.maxRuns", "expected a positive integer")
            common["max_runs"] = runs
        return cls._of_kind(kind, value, path, common)

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
            seconds = value.get("interval", value.get("frequency"))
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
                raise SpecError(f"{path}.interval", "expected a positive number of seconds")
            return cls("interval", interval=timedelta(seconds=seconds), **common)
        at = value.get("datetime", value.get("startAt"))
        return cls("datetime", at=_time(at, f"{path}.datetime"), **common)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None when there is no more."""
        after = max(after, self.start_at - timedelta(microseconds=1)) if self.start_at else after
        if self.kind == "cron":
            local = after.astimezone(ZoneInfo(self.timezone))
            try:
                found = croniter(self.cron, local).get_next(datetime)
            except CroniterBadCronError:
                return None
        elif self.kind == "interval":
            assert self.interval is not None
            origin = self.start_at or datetime(2000, 1, 1, tzinfo=UTC)
            steps = (after - origin) // self.interval + 1
            found = origin + self.interval * max(steps, 0)
        else:
            found = self.at if self.at and self.at > after else None
        if found is None or (self.end_at and found > self.end_at):
            return None
        return found.astimezone(UTC)
