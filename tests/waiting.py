"""Waiting on a condition with a deadline: the one way a test waits for something to happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
# A failure shows the last value, but a list of every run must not bury the message.
SHOWN = 2000


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 5.0,
    interval: float = 0.02,
    message: str | Callable[[], str] = "the condition",
) -> T:
    """`condition()`'s first truthy value, asked every `interval` seconds; after `timeout`
    seconds an AssertionError names `message` (a callable is asked only then, so it may read
    logs) and the last value. What `condition` raises ends the wait at once."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            last = repr(value)
            if len(last) > SHOWN:
                last = last[:SHOWN] + "…"
            raise AssertionError(f"not within {timeout:g}s (last value: {last}): {what}")
        time.sleep(interval)
