"""Where a followed container log was left, so a dropped stream resumes without a repeat.

A follower asks for its lines with `timestamps=true` (the kubelet stamps each line with its
RFC 3339 time to the nanosecond) and remembers the last stamp it passed on and how many lines
carried it. After a dropped connection or an apiserver restart it asks again from a little
before that stamp (`sinceSeconds`: client 37 has no `sinceTime`, and the margin covers a clock
that differs between the agent and the node), skips what it passed on already, and passes on
the rest. If the answer does not reach back to the last line passed on (a clock that differs
by more than the margin), the gap is not guessed over: the whole log is read again and
skipped up to that line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

SINCE_MARGIN = 60  # seconds asked for before the last line's stamp
Instant = tuple[str, int]  # (YYYY-MM-DDTHH:MM:SS, nanoseconds): compares in time order


class Gap(Exception):
    """The answer starts after the last line passed on: lines in between might be missing."""


def split(line: str) -> tuple[Instant | None, str]:
    """A stamped line's instant and text; (None, line) when it carries no stamp."""
    stamp, sep, text = line.partition(" ")
    instant = parse(stamp)
    return (instant, text) if sep and instant is not None else (None, line)


def parse(stamp: str) -> Instant | None:
    """`2026-12-05T02:30:00.123456789Z` (any number of fraction digits, or none)."""
    if not stamp.endswith("Z") or len(stamp) < 20 or stamp[10] != "T":
        return None
    whole, _, fraction = stamp[:-1].partition(".")
    if len(whole) != 19 or not fraction.isdigit() and fraction:
        return None
    return whole, int((fraction or "0")[:9].ljust(9, "0"))


@dataclass
class Position:
    """The last instant passed on, and how many lines with that very instant were."""

    last: Instant | None = None
    at_last: int = 0

    def since_seconds(self, now: datetime | None = None) -> int | None:
        """What to ask for on resuming: None (from the start) before any line was passed on."""
        if self.last is None:
            return None
        then = datetime.fromisoformat(self.last[0]).replace(tzinfo=UTC)
        elapsed = ((now or datetime.now(UTC)) - then).total_seconds()
        return max(1, math.ceil(elapsed)) + SINCE_MARGIN

    def reader(self, whole: bool) -> Resumed:
        """A filter for one answer; `whole`: the answer is the log from its start."""
        return Resumed(self, whole)


class Resumed:
    """Filters one answer's lines against its Position, moving the position along."""

    def __init__(self, position: Position, whole: bool) -> None:
        self.position = position
        self.boundary = position.last
        self.skip = position.at_last  # lines at the boundary instant already passed on
        self.checked = position.last is None or whole

    def take(self, line: str) -> str | None:
        """The line's text to pass on, or None when it was passed on before. Raises Gap when
        the answer began after the boundary."""
        instant, text = split(line)
        if instant is None:  # unstamped (a server that ignores timestamps): pass it on
            return text
        if self.boundary is not None:
            if instant < self.boundary:
                self.checked = True
                return None
            if instant == self.boundary and self.skip > 0:
                self.checked = True
                self.skip -= 1
                return None
            if not self.checked:
                raise Gap(f"the log resumed at {instant}, after {self.boundary}")
            self.boundary = None  # past it: every further line is new
        position = self.position
        position.at_last = position.at_last + 1 if instant == position.last else 1
        position.last = instant
        return text

    def finish(self) -> None:
        """The answer ended: an answer that never reached back to the boundary is a gap."""
        if not self.checked:
            raise Gap("the resumed log did not reach back to the last line read")
