"""The agent: turns what runners observe into transitions; relays the outbox; sweeps.

On start it reconciles: a run the database places on the runner whose object the runner no
longer knows was deleted while nobody watched; it fails with reason `Missing` (a run being
stopped is stopped), as Polyaxon does. While a run runs, its logs are followed into the
database when the runner can follow them (`ci.logs_follow`).

Observations are applied on a few threads (`Lanes`), each run's always on the same one, so a
run's statuses keep their order while a thousand runs' transitions commit side by side. A
finished run's logs are read from the runner before its row is locked: a slow read holds up
neither the run's row nor the other runs' transitions.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator

from sqlalchemy import select

from ci import lifecycle, outbox, sweeper
from ci.logs_follow import MAX_LOG_CHARS, LogFollowers
from ci.models import Run
from ci.runtime import Runtime
from ci.supervision import Backoff, vital
from runners.base import Observation, Runner
from schemas.status import DONE, ON_RUNNER, RunStatus

log = logging.getLogger(__name__)
S = RunStatus
HOLD_SECONDS = 10.0  # how long an observation may wait for its run's id to be committed
TICK_SECONDS = 0.2
# A watch that lasted this long was not failing in a row: its next failure waits briefly again.
WATCHED_WELL_SECONDS = 60.0
# Transitions are bound by the database's commits, which overlap well a few at a time; more
# threads than this mostly wait for the same disk (and the connection pool holds 5 + 10).
LANES = 4


def apply(rt: Runtime, runner: Runner, observation: Observation) -> bool:
    """Record `observation` as a transition if it is news; returns whether it was."""
    return bool(_apply(rt, runner, observation))


def _apply(rt: Runtime, runner: Runner, observation: Observation) -> bool | None:
    """As `apply`; None when no run has the observation's external id (yet)."""
    logs = None
    if observation.status in DONE:
        # Read before the row is locked: reading may take the runner a while.
        news = _is_news(rt, runner, observation)
        if not news:
            return news
        logs = runner.logs(observation.external_id)
    with rt.db.session() as session:
        run = session.scalar(
            select(Run)
            .where(Run.runner == runner.name, Run.external_id == observation.external_id)
            .with_for_update()
        )
        if run is None:
            return None
        if not _news_for(run, observation):
            return False
        if logs is not None:
            # A run deleted with its pods has nothing left to read: keep what was followed.
            logs = logs[-MAX_LOG_CHARS:]
            if logs or run.logs is None:
                # PostgreSQL text cannot hold NUL; a job may well print one.
                run.logs = logs.replace("\x00", "\ufffd")
        lifecycle.transition(
            session,
            run,
            RunStatus(observation.status),
            observation.reason,
            observation.message,
            observation.at,
        )
        return True


def _is_news(rt: Runtime, runner: Runner, observation: Observation) -> bool | None:
    """Whether the observation would change its run now; None when no run has its id."""
    with rt.db.session() as session:
        run = session.scalar(
            select(Run).where(Run.runner == runner.name, Run.external_id == observation.external_id)
        )
        return None if run is None else _news_for(run, observation)


def _news_for(run: Run, observation: Observation) -> bool:
    if run.status == observation.status:
        return False
    if not lifecycle.can_transition(run.status, observation.status):
        # Observations can arrive late (a `running` after we recorded `stopping`).
        log.debug("run %s: ignoring %s while %s", run.uuid, observation.status, run.status)
        return False
    return True


def reconcile(rt: Runtime, runner: Runner) -> list[str]:
    """End the runs the database places on `runner` whose objects it no longer knows.

    Only for runners that can list what they hold (`known_ids()`). Returns the ids ended.
    """
    with rt.db.session() as session:
        believed = session.execute(
            select(Run.id, Run.external_id).where(
                Run.runner == runner.name,
                Run.status.in_(ON_RUNNER),
                Run.external_id.is_not(None),
            )
        ).all()
    if not believed:
        return []
    # Asked after the query: a run submitted meanwhile had its object before its id was stored.
    known = runner.known_ids()
    if known is None:  # this runner cannot list what it holds
        return []
    ended = []
    for run_id, external_id in believed:
        if external_id not in known and _end_missing(rt, runner, run_id, str(external_id)):
            ended.append(str(external_id))
    return ended


def _end_missing(rt: Runtime, runner: Runner, run_id: int, external_id: str) -> bool:
    with rt.db.session() as session:
        run = session.get(Run, run_id, with_for_update=True)
        if run is None or run.status not in ON_RUNNER or run.external_id != external_id:
            return False  # it moved on while we looked
        gone = f"{external_id} is no longer on the {runner.name} runner"
        if run.status == S.STOPPING:
            lifecycle.transition(session, run, S.STOPPED, "Stopped", f"{gone}; it was stopped")
        else:
            message = f"{gone}: it was deleted while no agent was watching"
            lifecycle.transition(session, run, S.FAILED, "Missing", message)
        log.warning("run %s: %s", run.uuid, gone)
        return True


class Held:
    """Observations of runs not known yet, retried in order for a few seconds.

    A runner can report a run before the transaction that stores its external id commits
    (the worker submits, then commits), so a first `starting` may find no run yet.
    """

    def __init__(self, seconds: float = HOLD_SECONDS) -> None:
        self.seconds = seconds
        self._held: list[tuple[float, Observation]] = []

    def add(self, observation: Observation | None) -> list[tuple[float, Observation]]:
        """What to apply now, in order, each with when it was first seen: the held ones
        still worth a try, then `observation`."""
        now = time.monotonic()
        due = []
        for since, held in self._held:
            if now - since <= self.seconds:
                due.append((since, held))
            else:
                log.debug("no run has id %s; dropping its %s", held.external_id, held.status)
        self._held = []
        return [*due, (now, observation)] if observation is not None else due

    def keep(self, since: float, observation: Observation) -> None:
        self._held.append((since, observation))


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
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self, lane: queue.Queue[Observation | None]) -> None:
        held = Held()
        while not self._closed.is_set():
            observation = lane.get()
            try:
                if not self._closed.is_set():
                    self._apply_in_order(held, observation)
            except Exception as exc:  # raised again by `check`, in the watching thread
                self.error = exc
                self._closed.set()
            finally:
                lane.task_done()

    def _apply_in_order(self, held: Held, observation: Observation | None) -> None:
        unknown: set[str] = set()  # a run's later news waits behind its held news
        for since, ready in held.add(observation):
            if ready.external_id in unknown or _apply(self.rt, self.runner, ready) is None:
                unknown.add(ready.external_id)
                held.keep(since, ready)
            elif ready.status == S.RUNNING and self.followers is not None:
                self.followers.follow(ready.external_id)


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


class Agent:
    """Watches one runner and sweeps, until `stop` is set."""

    def __init__(self, rt: Runtime, runner_name: str | None = None) -> None:
        self.rt = rt
        self.runner = rt.runner(runner_name or rt.settings.runner)

    def watch(self, stop: threading.Event) -> None:
        """Record what the runner observes until `stop` is set; a failure (the database or the
        runner went away) is logged and the watch starts again after a growing pause."""
        followers = LogFollowers(self.rt, self.runner, stop)
        reconciled = False
        backoff = Backoff()
        while not stop.is_set():
            started = time.monotonic()
            try:
                if not reconciled:
                    reconcile(self.rt, self.runner)
                    reconciled = True
                self._record(stop, followers)
            except Exception:
                log.exception("watching runner %s failed; watching again", self.runner.name)
                if time.monotonic() - started > WATCHED_WELL_SECONDS:
                    backoff.reset()
                backoff.wait(stop)

    def _record(self, stop: threading.Event, followers: LogFollowers) -> None:
        """Apply what the runner observes, each run's in order, until it stops or fails."""
        lanes = Lanes(self.rt, self.runner, followers)
        try:
            for observation in ticking(self.runner.observe, stop):
                lanes.check()
                lanes.put(observation)
            lanes.check()
        finally:
            lanes.close()

    def sweep_forever(self, stop: threading.Event) -> None:
        interval = self.rt.settings.sweep_interval_seconds
        backoff = Backoff(first=interval, most=max(interval, 10.0))
        delay = interval
        while not stop.wait(delay):
            try:
                sweeper.sweep(self.rt)
                backoff.reset()
                delay = interval
            except Exception:
                log.exception("sweep failed; trying again")
                delay = backoff.next()

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        """Start watching, relaying and sweeping in daemon threads; returns them.

        Each loop outlives outages; one that ends anyway before `stop` takes the process down
        with status 1 (`ci.supervision.vital`).
        """
        return [
            vital(self.watch, stop, name="axon-agent", stop=stop),
            vital(outbox.run_forever, self.rt, stop, name="axon-relay", stop=stop),
            vital(self.sweep_forever, stop, name="axon-sweeper", stop=stop),
        ]


def run_forever(rt: Runtime) -> None:
    """`axon agent`: run until interrupted; exits with status 1 if one of its threads ends."""
    stop = threading.Event()
    threads = Agent(rt).run(stop)
    try:
        while all(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
        return
    dead = [t.name for t in threads if not t.is_alive()]
    log.critical("agent thread(s) %s ended; exiting", ", ".join(dead))
    raise SystemExit(1)
