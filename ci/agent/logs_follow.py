"""Live logs: while a run runs, its followed lines are stored on the run every second or so.

Only for runners that can follow (their `follow_logs(external_id, stop)` is not None). One
thread per followed run reads its lines into a buffer; one writer thread stores every buffer
that grew. A follower reads the run's logs from their start, so its first write replaces what
an earlier agent stored and later writes append: a restarted agent neither loses nor repeats a
line. Writes stop once the run is done, when the runner's complete logs take their place
(`ci.agent.recording`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, update

from ci.runtime import Runtime
from ci.store.models import Run
from runners.base import Runner
from schemas.status import DONE

log = logging.getLogger(__name__)
MAX_LOG_CHARS = 10 * 1024 * 1024
MAX_FOLLOWED = 200  # runs followed at once; the others' logs are read from the runner on request
FLUSH_SECONDS = 1.0


@dataclass
class _Followed:
    external_id: str
    pending: list[str] = field(default_factory=list)
    stored_chars: int = 0
    replaced: bool = False  # the first write replaces whatever an earlier follower stored
    ended: bool = False


class LogFollowers:
    """Follows the logs of running runs of one runner until `stop` is set."""

    def __init__(
        self,
        rt: Runtime,
        runner: Runner,
        stop: threading.Event,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.rt, self.runner, self.stop = rt, runner, stop
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._followed: dict[str, _Followed] = {}
        self._writer: threading.Thread | None = None

    def follow(self, external_id: str) -> bool:
        """Start following the run's logs unless they are followed already; whether it started."""
        if self.stop.is_set():
            return False
        with self._lock:
            if external_id in self._followed or len(self._followed) >= MAX_FOLLOWED:
                return False
        try:
            lines = self.runner.follow_logs(external_id, self.stop)
        except Exception:
            log.warning("following the logs of %s failed", external_id, exc_info=True)
            return False
        if lines is None:  # this runner cannot follow: the logs are read when the run ends
            return False
        with self._lock:
            if external_id in self._followed:  # `lines` is lazy: dropping it reads nothing
                return False
            self._followed[external_id] = _Followed(external_id)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="axon-logs-writer", daemon=True
                )
                self._writer.start()
        name = f"axon-logs-{external_id[-12:]}"
        reader = threading.Thread(
            target=self._read, args=(external_id, lines), name=name, daemon=True
        )
        reader.start()
        return True

    def following(self) -> list[str]:
        with self._lock:
            return sorted(self._followed)

    def _read(self, external_id: str, lines: Iterator[str]) -> None:
        followed = self._followed[external_id]
        try:
            for line in lines:
                with self._lock:
                    followed.pending.append(line)
        except Exception:
            log.warning("following the logs of %s failed", external_id, exc_info=True)
        finally:
            with self._lock:
                followed.ended = True

    def _write_forever(self) -> None:
        while not self.stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the writer must outlive anything one flush meets
                log.exception("storing followed logs failed; trying again")
        self.flush()

    def flush(self) -> None:
        """Store what every follower read since the last flush; forget followers that ended."""
        with self._lock:
            batch = []
            for followed in list(self._followed.values()):
                if followed.pending:
                    batch.append((followed, followed.pending))
                    followed.pending = []
                if followed.ended:
                    del self._followed[followed.external_id]
        for followed, lines in batch:
            try:
                self._store(followed, lines)
            except Exception:
                # The database may be away for a while: keep the lines for the next flush.
                log.warning("storing the logs of %s failed", followed.external_id, exc_info=True)
                with self._lock:
                    followed.pending[:0] = lines
                    self._followed.setdefault(followed.external_id, followed)

    def _store(self, followed: _Followed, lines: list[str]) -> None:
        room = MAX_LOG_CHARS - followed.stored_chars
        # PostgreSQL text cannot hold NUL; a job may well print one.
        text = "".join(f"{line}\n" for line in lines)[:room].replace("\x00", "\ufffd")
        if not text:
            return
        logs: Any = func.coalesce(Run.logs, "") + text if followed.replaced else text
        with self.rt.db.session() as session:
            session.execute(
                update(Run)
                .where(
                    Run.runner == self.runner.name,
                    Run.external_id == followed.external_id,
                    Run.status.not_in(DONE),
                )
                # Not a change of the run's state: the sweeper's clock must not restart.
                .values(logs=logs, updated_at=Run.updated_at)
                .execution_options(synchronize_session=False)
            )
        followed.replaced = True
        followed.stored_chars += len(text)
