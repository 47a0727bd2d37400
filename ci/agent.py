"""The agent: turns what runners observe into transitions; relays the outbox; sweeps."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from ci import lifecycle, outbox, sweeper
from ci.models import Run
from ci.runtime import Runtime
from runners.base import Observation, Runner
from runners.registry import runners
from schemas.status import DONE, RunStatus

log = logging.getLogger(__name__)
MAX_LOG_CHARS = 10 * 1024 * 1024


def apply(rt: Runtime, runner: Runner, observation: Observation) -> bool:
    """Record `observation` as a transition if it is news; returns whether it was."""
    with rt.db.session() as session:
        run = session.scalar(
            select(Run)
            .where(Run.runner == runner.name, Run.external_id == observation.external_id)
            .with_for_update()
        )
        if run is None or run.status == observation.status:
            return False
        if not lifecycle.can_transition(run.status, observation.status):
            # Observations can arrive late (a `running` after we recorded `stopping`).
            log.debug("run %s: ignoring %s while %s", run.uuid, observation.status, run.status)
            return False
        if observation.status in DONE:
            # PostgreSQL text cannot hold NUL; a job may well print one.
            logs = runner.logs(observation.external_id)[-MAX_LOG_CHARS:]
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


class Agent:
    """Watches one runner and sweeps, until `stop` is set."""

    def __init__(self, rt: Runtime, runner_name: str | None = None) -> None:
        self.rt = rt
        name = runner_name or rt.settings.runner
        self.runner = runners.get(name, **rt.settings.runner_config(name))

    def watch(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                for observation in self.runner.observe(stop):
                    apply(self.rt, self.runner, observation)
            except Exception:
                log.exception("watching runner %s failed; watching again", self.runner.name)
                stop.wait(1.0)

    def sweep_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.rt.settings.sweep_interval_seconds):
            try:
                sweeper.sweep(self.rt)
            except Exception:
                log.exception("sweep failed; trying again next interval")

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        """Start watching and sweeping in daemon threads; returns them."""
        threads = [
            threading.Thread(target=self.watch, args=(stop,), name="axon-agent", daemon=True),
            threading.Thread(
                target=outbox.run_forever, args=(self.rt, stop), name="axon-relay", daemon=True
            ),
            threading.Thread(
                target=self.sweep_forever, args=(stop,), name="axon-sweeper", daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        return threads


def run_forever(rt: Runtime) -> None:
    stop = threading.Event()
    threads = Agent(rt).run(stop)
    try:
        while all(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
