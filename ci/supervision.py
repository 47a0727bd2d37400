"""Long-running loops that outlive outages, and threads whose end takes their process down.

A loop that fails (the database or the broker went away) logs, waits a little longer each time
it fails again (`Backoff`), and goes on. A thread that ends anyway, before its process was told
to stop, is a bug: `vital` exits the process with status 1, so that its supervisor (systemd,
Kubernetes, gunicorn) starts a whole new one instead of leaving a process that answers but no
longer works.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
EXIT_STATUS = 1


class Backoff:
    """Waits between tries: `first` seconds, doubling with each failure in a row, at most `most`."""

    def __init__(self, first: float = 0.5, most: float = 5.0) -> None:
        self.first, self.most = first, most
        self.failures = 0

    def next(self) -> float:
        """Count a failure; how long to wait before the next try."""
        # The exponent is capped: a days-long outage must not overflow a float.
        delay = float(min(self.most, self.first * 2 ** min(self.failures, 32)))
        self.failures += 1
        return delay

    def wait(self, stop: threading.Event) -> bool:
        """Count a failure and wait (unless `stop` is set first); True if `stop` was set."""
        return stop.wait(self.next())

    def reset(self) -> None:
        """A try succeeded: the next failure waits `first` again."""
        self.failures = 0


def _exit(status: int) -> None:
    # Flushed by hand: os._exit skips the interpreter's clean-up, and the log is all we leave.
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def vital(
    target: Callable[..., Any],
    *args: Any,
    name: str,
    stop: threading.Event,
    on_death: Callable[[int], None] = _exit,
) -> threading.Thread:
    """Start `target(*args)` in a daemon thread; if it ends before `stop` is set, the process
    exits with status 1 (`on_death(1)`), logging why."""

    def run() -> None:
        try:
            target(*args)
        except BaseException:
            log.critical("thread %s died; exiting so the process is restarted", name, exc_info=True)
            on_death(EXIT_STATUS)
            return
        if not stop.is_set():
            log.critical(
                "thread %s ended while still needed; exiting so the process is restarted", name
            )
            on_death(EXIT_STATUS)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
