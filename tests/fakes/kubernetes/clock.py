"""Simulated time: a clock that runs at a chosen speed (or only when told) and what happens when.

With `speed=1.0` simulated seconds pass as real ones; `speed=10` compresses ten seconds into
one; `speed=None` stops the clock so a test moves it with `advance()` and nothing happens
between two calls. Every scheduled action runs under the store's lock, one at a time, in time
order, on the scheduler's thread (or inside `advance()` when the clock is manual).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


class SimClock:
    """Seconds since the epoch, as the cluster sees them."""

    def __init__(self, speed: float | None = 1.0, start: float | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive, or None for a manual clock")
        self.speed = speed
        self._origin = time.time() if start is None else start
        self._real_origin = time.monotonic()
        self._offset = 0.0

    @property
    def manual(self) -> bool:
        return self.speed is None

    def now(self) -> float:
        elapsed = 0.0 if self.speed is None else (time.monotonic() - self._real_origin) * self.speed
        return self._origin + elapsed + self._offset

    def jump(self, seconds: float) -> None:
        self._offset += seconds

    def real_seconds(self, simulated: float) -> float:
        """How long a simulated interval takes in real time (forever on a manual clock)."""
        return float("inf") if self.speed is None else max(simulated, 0.0) / self.speed

    def wall(self, simulated: float) -> float:
        """Real seconds for a server-side interval (a watch timeout): scaled like the
        cluster's time, one to one when the clock is manual."""
        return simulated / (self.speed or 1.0)

    def timestamp(self, at: float | None = None) -> str:
        """The API's time format: 2024-05-01T12:00:00Z (seconds, UTC)."""
        moment = datetime.fromtimestamp(self.now() if at is None else at, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def precise(self, at: float | None = None) -> str:
        """RFC 3339 with nanoseconds, as the kubelet stamps log lines."""
        moment = datetime.fromtimestamp(self.now() if at is None else at, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def parse_timestamp(stamp: str) -> float:
    """Seconds since the epoch of an API timestamp (2024-05-01T12:00:00Z)."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return moment.timestamp()


Action = Callable[[], None]


class Scheduler:
    """A time-ordered queue of actions, run on a thread (running clock) or by `advance()`."""

    def __init__(self, clock: SimClock, lock: threading.Condition) -> None:
        self.clock = clock
        self.lock = lock
        self.errors: list[BaseException] = []
        self._queue: list[tuple[float, int, Action]] = []
        self._counter = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def after(self, delay: float, action: Action) -> None:
        self.at(self.clock.now() + max(delay, 0.0), action)

    def at(self, when: float, action: Action) -> None:
        with self.lock:
            heapq.heappush(self._queue, (when, next(self._counter), action))
            self.lock.notify_all()

    # -- running clock -----------------------------------------------------------------------

    def start(self) -> None:
        if self.clock.manual:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="KubernetesSimulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        with self.lock:
            while not self._stopping:
                if self._queue and self._queue[0][0] <= self.clock.now():
                    self._run(heapq.heappop(self._queue)[2])
                    continue
                wait = 1.0
                if self._queue:
                    wait = min(wait, self.clock.real_seconds(self._queue[0][0] - self.clock.now()))
                self.lock.wait(timeout=max(wait, 0.0005))

    # -- manual clock ------------------------------------------------------------------------

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock on by `seconds`, running everything that falls due, in order.

        On a running clock this only jumps ahead: the scheduler's thread runs what fell due.
        """
        if not self.clock.manual:
            with self.lock:
                self.clock.jump(seconds)
                self.lock.notify_all()
            return
        with self.lock:
            target = self.clock.now() + seconds
            while self._queue and self._queue[0][0] <= target:
                when, _, action = heapq.heappop(self._queue)
                if when > self.clock.now():
                    self.clock.jump(when - self.clock.now())
                self._run(action)
            if target > self.clock.now():
                self.clock.jump(target - self.clock.now())
            self.lock.notify_all()

    def _run(self, action: Action) -> None:
        try:
            action()
        except Exception as error:  # a simulator bug: keep going, report it when the test ends
            self.errors.append(error)
