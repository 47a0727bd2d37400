"""Observations applied on a few threads, each run's always on the same one.

A run's statuses keep their order while a thousand runs' transitions commit side by side; a
run not known yet (its external id not committed) is held and tried again for a few seconds.
What queues up on a lane while it records is recorded next, all of it in one transaction. The
runner is told it may let go of a finished run's objects on a thread of its own: that cleanup
(API calls, on Kubernetes) holds up no lane.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator

from ci.agent import recording
from ci.agent.logs_follow import LogFollowers
from ci.runtime import Runtime
from runners.base import Observation, Runner
from schemas.status import RunStatus

log = logging.getLogger(__name__)
S = RunStatus
HOLD_SECONDS = 10.0  # how long an observation may wait for its run's id to be committed
TICK_SECONDS = 0.2
# How soon a lane with held observations tries them again when nothing else arrives: the run's
# starting transaction commits within milliseconds, and a held end waiting for the next tick
# held up its pipeline's advance (a fan-in waited about 200 ms for its last op's end).
HELD_RETRY_SECONDS = 0.02
# Transitions are bound by the database's commits, which overlap well a few at a time; more
# threads than this mostly wait for the same disk (and the connection pool holds 5 + 10).
LANES = 4
# The most observations one transaction records: a burst of a thousand runs' starts takes a few
# commits, none of which holds many rows locked for long.
BATCH = 256


class Held:
    """Observations of runs not known yet, retried in order for a few seconds.

    A runner can report a run before the transaction that stores its external id commits
    (the worker submits, then commits), so a first `starting` may find no run yet.
    """

    def __init__(self, seconds: float = HOLD_SECONDS) -> None:
        self.seconds = seconds
        self._held: list[tuple[float, Observation]] = []

    def add(self, *observations: Observation | None) -> list[tuple[float, Observation]]:
        """What to apply now, in order, each with when it was first seen: the held ones
        still worth a try, then `observations` (a None among them stands for none)."""
        now = time.monotonic()
        due = []
        for since, held in self._held:
            if now - since <= self.seconds:
                due.append((since, held))
            else:
                log.debug("no run has id %s; dropping its %s", held.external_id, held.status)
        self._held = []
        return [*due, *((now, o) for o in observations if o is not None)]

    def keep(self, since: float, observation: Observation) -> None:
        self._held.append((since, observation))

    def __bool__(self) -> bool:
        return bool(self._held)


def lane_of(external_id: str, lanes: int = LANES) -> int:
    """The lane a run's observations go to: always the same one for the same run."""
    return zlib.crc32(external_id.encode()) % lanes


class Lanes:
    """Applies observations on `count` threads, each run's on one thread in the order given.

    Runs not known yet are held per lane (`Held`). A failure to apply stops every lane; the
    caller raises it (`check`) and watches again, as a restarted agent would.
    """

    def __init__(
        self,
        rt: Runtime,
        runner: Runner,
        followers: LogFollowers | None = None,
        count: int = LANES,
    ) -> None:
        self.rt, self.runner, self.followers = rt, runner, followers
        self.error: BaseException | None = None
        self._closed = threading.Event()
        self._queues: list[queue.Queue[Observation | None]] = [queue.Queue() for _ in range(count)]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"axon-apply-{i}", daemon=True)
            for i, q in enumerate(self._queues)
        ]
        self._ended: queue.Queue[str | None] = queue.Queue()
        self._threads.append(threading.Thread(target=self._let_go, name="axon-let-go", daemon=True))
        for thread in self._threads:
            thread.start()

    def put(self, observation: Observation | None) -> None:
        """Queue `observation` on its run's lane; None gives every lane's held ones a try."""
        if observation is None:
            for lane in self._queues:
                lane.put(None)
        else:
            self._queues[lane_of(observation.external_id, len(self._queues))].put(observation)

    def check(self) -> None:
        """Raise what stopped the lanes, if anything did."""
        if self.error is not None:
            raise self.error

    def idle(self) -> bool:
        """Whether every queued observation has been applied (or held)."""
        return all(lane.unfinished_tasks == 0 for lane in self._queues)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the lanes; what is still queued is dropped (the next watch sees it again)."""
        self._closed.set()
        for lane in self._queues:
            lane.put(None)
        self._ended.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self, lane: queue.Queue[Observation | None]) -> None:
        held, retry = Held(), HELD_RETRY_SECONDS
        while not self._closed.is_set():
            try:
                taken = [lane.get(timeout=retry) if held else lane.get()]
                retry = HELD_RETRY_SECONDS
            except queue.Empty:
                # Nothing new: the held ones' runs may be known by now. Tried sooner at first,
                # then less often, for what may never be known (a run deleted meanwhile).
                taken, retry = [], min(retry * 2, TICK_SECONDS)
            while len(taken) < BATCH:
                try:
                    taken.append(lane.get_nowait())
                except queue.Empty:
                    break
            try:
                if not self._closed.is_set():
                    self._apply_in_order(held, taken or [None])
            except Exception as exc:  # raised again by `check`, in the watching thread
                self.error = exc
                self._closed.set()
            finally:
                for _ in taken:
                    lane.task_done()

    def _apply_in_order(self, held: Held, observations: list[Observation | None]) -> None:
        due = held.add(*observations)
        if not due:
            return
        # A run's held news and its later news are found, or not, together.
        recorded = recording.record(
            self.rt, self.runner, [ready for _, ready in due], self._ended.put
        )
        for (since, ready), news in zip(due, recorded, strict=True):
            if news is None:
                held.keep(since, ready)
            elif ready.status == S.RUNNING and self.followers is not None:
                self.followers.follow(ready.external_id)

    def _let_go(self) -> None:
        # What is still queued at close is told again by the next agent, which sees those
        # runs' ends again (their objects are still there).
        while not self._closed.is_set():
            external_id = self._ended.get()
            if external_id is not None and not self._closed.is_set():
                recording.release(self.runner, external_id)


def ticking(
    observe: Callable[[threading.Event], Iterator[Observation]],
    stop: threading.Event,
    every: float = TICK_SECONDS,
) -> Iterator[Observation | None]:
    """`observe(halt)`'s observations, and None whenever `every` seconds pass without one.

    The observer runs in a thread, halted when `stop` is set or the caller stops reading.
    """
    out: queue.Queue[Observation | BaseException | None] = queue.Queue()
    halt = threading.Event()

    def pump() -> None:
        try:
            for observation in observe(halt):
                out.put(observation)
        except BaseException as exc:
            out.put(exc)
        else:
            out.put(None)

    threading.Thread(target=pump, name="axon-observe", daemon=True).start()
    try:
        while True:
            try:
                item = out.get(timeout=every)
            except queue.Empty:
                if stop.is_set():
                    return
                yield None
                continue
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item
    finally:
        halt.set()
