"""The embedded default: one process serves the API and runs the worker, agent and scheduler."""

from __future__ import annotations

import logging
import threading
from typing import Any

from gunicorn.app.base import BaseApplication

from ci import runtime
from ci.agent.process import Agent
from ci.runtime import Runtime, celery
from ci.schedules import firing
from ci.supervision import vital

log = logging.getLogger(__name__)


def start_background(rt: Runtime, stop: threading.Event, concurrency: int = 4) -> None:
    """A Celery worker on the configured broker and the agent, as daemon threads."""
    worker = celery.WorkController(
        pool_cls="threads",
        concurrency=concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        queues=[rt.settings.queue],
    )
    # Each thread outlives outages; one that ends anyway takes the process down (status 1).
    vital(worker.start, name="axon-worker", stop=stop)
    vital(firing.run_forever, rt, stop, name="axon-scheduler", stop=stop)
    Agent(rt).run(stop)


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn with one worker process: the background threads must exist exactly once."""

    def __init__(self, app_factory: Any, host: str, port: int, embedded: bool) -> None:
        self.app_factory, self.host, self.port, self.embedded = app_factory, host, port, embedded
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.host}:{self.port}")
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        # A dashboard tab following a live run holds a thread for its event stream (at most
        # a minute, then the browser reconnects); idle threads cost little, a full pool stalls.
        self.cfg.set("threads", 32)
        self.cfg.set("accesslog", "-")
        # gunicorn's control socket has one default path per user: two servers would share it.
        self.cfg.set("control_socket_disable", True)
        if self.embedded:
            self.cfg.set("post_worker_init", self._start)

    def _start(self, _worker: Any) -> None:
        start_background(runtime.get(), threading.Event())
        log.info("embedded worker and agent started")

    def load(self) -> Any:
        return self.app_factory()
