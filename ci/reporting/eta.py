"""How long a run has left: its progress so far, at the rate it has moved since it began."""

from __future__ import annotations

from typing import NamedTuple


class Point(NamedTuple):
    """How far the run was (`done`, in its own unit) at a moment (`at`, seconds)."""

    at: float
    done: float


def eta_seconds(first: Point | None, last: Point | None, total: float | None) -> float | None:
    """Seconds from `last` until `done` reaches `total`, at the rate from `first` to `last`;
    0 once it has, None when that cannot be told (no progress, no total, no movement yet)."""
    if last is None or total is None:
        return None
    if last.done >= total:
        return 0.0
    if first is None or last.at <= first.at or last.done <= first.done:
        return None
    rate = (last.done - first.done) / (last.at - first.at)
    return (total - last.done) / rate


def spoken(seconds: float) -> str:
    """`<1 min`, `4 min`, `2 h 05 min`: an ETA as people read it, no finer than a minute."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
