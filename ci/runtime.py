"""The process's settings, database and Celery app, set up once by whoever starts the process."""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from ci.config import Settings
from ci.store.db import Database
from runners.base import Runner
from runners.registry import runners

log = logging.getLogger(__name__)

celery = Celery("axon")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secret_key: bytes
    # One runner per name for the process: a runner may hold an API client and its connections.
    _runners: dict[str, Runner] = field(default_factory=dict, repr=False)
    _runners_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Given by ci.wiring: publishing a task by its name keeps every room free of ci.tasks,
    # which imports them all.
    publish: Callable[..., bool] | None = field(default=None, repr=False)

    def runner(self, name: str) -> Runner:
        """The process's runner called `name`, made on first use from the settings."""
        with self._runners_lock:
            if name not in self._runners:
                configured = self.settings.configurations().get(name)
                self._runners[name] = (
                    configured.make({"root": self.settings.runs_dir})
                    if configured is not None
                    else runners.get(name, **self.settings.runner_config(name))
                )
            return self._runners[name]

    def close(self) -> None:
        """Close the runners' clients and the database's connections."""
        self.close_runners()
        self.db.dispose()

    def close_runners(self) -> None:
        """Close the runners made so far; the next `runner()` makes a new one."""
        with self._runners_lock:
            made, self._runners = list(self._runners.values()), {}
        for runner in made:
            try:
                runner.close()
            except Exception:
                log.warning("closing runner %s failed", runner.name, exc_info=True)

    def run_token(self, run_uuid: str) -> str:
        """The per-run token a job reports with; derived, so a resubmit gets the same one.

        The uuid is signed into it, so it authorizes that run's tracking endpoint and no other;
        minting one takes the secret key, which no job's environment (nor its parent's) holds.
        """
        return hmac.new(self.secret_key, f"run:{run_uuid}".encode(), hashlib.sha256).hexdigest()

    def check_run_token(self, run_uuid: str, token: str) -> bool:
        # Compared as bytes: compare_digest refuses str with non-ASCII characters, and a
        # header may carry any.
        given = token.encode("utf-8", "replace")
        return hmac.compare_digest(self.run_token(run_uuid).encode(), given)

    def run_url(self, run_uuid: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/runs/{run_uuid}"


_current: Runtime | None = None


def _secret_key(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    # Embedded default: a key made on first start and kept beside the database.
    path = Path(settings.home) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_bytes().strip()


PR_SET_DUMPABLE = 4


def protect_process() -> None:
    """Keep this process's environment and memory from other processes of the same user.

    Its environment holds the secret key, the database URL and report credentials, and a local
    runner's jobs run as the same user: a non-dumpable process's /proc/<pid>/environ and memory
    are readable only with CAP_SYS_PTRACE (root). Linux only; elsewhere nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    except (OSError, AttributeError):
        log.warning("could not make the process non-dumpable", exc_info=True)


def configure_celery(settings: Settings) -> None:
    celery.conf.update(
        broker_url=settings.broker_url,
        task_default_queue=settings.queue,
        # Tasks take ids and are idempotent, so a task lost with its worker is simply rerun.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # A broker that is down must not hold a caller for long: sweepers re-send later.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5},
        broker_transport_options={"polling_interval": 0.05, "confirm_publish": False},
        worker_hijack_root_logger=False,
        # The worker imports the tasks by name: the rooms only ever publish them by name.
        imports=["ci.tasks"],
    )


def init(settings: Settings | None = None) -> Runtime:
    """Set up this process for `settings` (from the environment when None)."""
    global _current
    settings = settings or Settings.from_env()
    if _current is not None:
        _current.close()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # urllib3 logs each request's URL at DEBUG, and a webhook URL's path is its credential.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)
    configure_celery(settings)
    _current = Runtime(settings, Database(settings.database_url), _secret_key(settings))
    return _current


def get() -> Runtime:
    return _current if _current is not None else init()


def enqueue(task_name: str, *args: Any, **options: Any) -> bool:
    """Publish the task called `task_name`; False when the broker refused it (the sweeper
    sends it again later). The one way work reaches the worker, so tests record it here."""
    publish = get().publish
    if publish is None:
        raise RuntimeError("the process is not wired: ci.wiring.wire(rt) gives it its publisher")
    return publish(task_name, *args, **options)


def enqueue_each(task_name: str, ids: list[int]) -> list[int]:
    """Publish `task_name` for each id in turn until the broker refuses one; the ids published.

    Each refusal costs the publisher's own retries, so while the broker is away one is enough:
    the rest wait for whoever sends them next.
    """
    sent: list[int] = []
    for row_id in ids:
        if enqueue(task_name, row_id) is False:
            break
        sent.append(row_id)
    return sent
