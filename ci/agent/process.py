"""The agent's process: it watches each runner configuration, relays the outbox and sweeps, each
in a thread whose end takes the process down."""

from __future__ import annotations

import logging
import threading
import time

from ci.agent import outbox, recording, sweeper
from ci.agent.lanes import Lanes, ticking
from ci.agent.logs_follow import LogFollowers
from ci.runs import routing
from ci.runtime import Runtime
from ci.supervision import Backoff, vital
from runners.base import Runner

log = logging.getLogger(__name__)
# A watch that lasted this long was not failing in a row: its next failure waits briefly again.
WATCHED_WELL_SECONDS = 60.0


class Agent:
    """Watches its runners (`runner_name`, or every configuration) and sweeps, until `stop`.

    One agent watches many clusters, each on a thread of its own with its own backoff: a
    cluster that cannot be reached holds up only its own runs' news.
    """

    def __init__(self, rt: Runtime, runner_name: str | None = None) -> None:
        self.rt = rt
        watched = [runner_name] if runner_name else routing.names(rt.settings)
        self.runners = [rt.runner(name) for name in watched]
        self.runner = self.runners[0]

    def watch(self, stop: threading.Event, runner: Runner | None = None) -> None:
        """Record what `runner` (the first one) observes until `stop` is set; a failure (the
        database or the runner went away) is logged and the watch starts again after a
        growing pause."""
        runner = runner or self.runner
        followers = LogFollowers(self.rt, runner, stop)
        reconciled = False
        backoff = Backoff()
        while not stop.is_set():
            started = time.monotonic()
            try:
                if not reconciled:
                    recording.reconcile(self.rt, runner)
                    reconciled = True
                self._record(stop, followers, runner)
            except Exception as exc:
                # The error's own words first: a refusal by the cluster's access control is
                # read here, and fixed there without restarting the agent.
                log.exception("watching runner %s failed; watching again: %s", runner.name, exc)
                if time.monotonic() - started > WATCHED_WELL_SECONDS:
                    backoff.reset()
                backoff.wait(stop)

    def _record(self, stop: threading.Event, followers: LogFollowers, runner: Runner) -> None:
        """Apply what the runner observes, each run's in order, until it stops or fails."""
        lanes = Lanes(self.rt, runner, followers)
        try:
            for observation in ticking(runner.observe, stop):
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
        watching = [
            vital(self.watch, stop, runner, name=f"axon-agent-{runner.name}", stop=stop)
            for runner in self.runners
        ]
        return [
            *watching,
            vital(outbox.run_forever, self.rt, stop, name="axon-relay", stop=stop),
            vital(self.sweep_forever, stop, name="axon-sweeper", stop=stop),
        ]


def run_forever(rt: Runtime, runner_name: str | None = None) -> None:
    """`axon agent`: run until interrupted; exits with status 1 if one of its threads ends."""
    stop = threading.Event()
    threads = Agent(rt, runner_name).run(stop)
    try:
        while all(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
        return
    dead = [t.name for t in threads if not t.is_alive()]
    log.critical("agent thread(s) %s ended; exiting", ", ".join(dead))
    raise SystemExit(1)
