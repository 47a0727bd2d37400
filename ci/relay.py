"""Publish tasks from a background thread: a webhook is answered without waiting on the broker."""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from celery import Task

log = logging.getLogger(__name__)


class Relay:
    """A per-process publisher thread. Work it loses (a crash, a broker down) stays in the
    database as `received` and is picked up by the sweeper."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Task, tuple[Any, ...]]] = queue.SimpleQueue()
        self._pid = 0
        self._lock = threading.Lock()

    def publish(self, task: Task, *args: Any) -> None:
        self._ensure_thread()
        self._queue.put((task, args))

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn workers) the parent's thread does not exist in the child.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._drain, name="axon-relay", daemon=True).start()
                self._pid = os.getpid()

    def _drain(self) -> None:
        from ci import tasks

        while True:
            task, args = self._queue.get()
            tasks.enqueue(task, *args)


relay = Relay()
