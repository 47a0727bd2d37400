"""Runs each job as a local process, the embedded default runner.

Features: one directory per run (`<root>/<uuid>/`: spec.json, state.json, logs.txt,
supervisor.pid) owned by a detached supervisor (`runners.local_supervisor`), so a run outlives
the worker that submitted it and any process can observe or cancel it; supervisors are forked
by one launcher process per root (`runners.local_launcher`) rather than each started as an
interpreter; the supervisor gets a minimal environment, never the worker's secrets; git
checkout at a sha; timeouts; the job's outputs directory (`AXON_OUTPUTS_PATH`,
`<root>/<uuid>/outputs`) is handed to the core through `outputs()` when it ends; cancel stops
the job's whole process group; a supervisor that died without recording an outcome is reported
`failed` with reason `Lost`. External id: the run's uuid (`<uuid>.<n>` for its n-th retry, in a
run dir of its own). Runs `job` only: the core retries a failed run; a component asking for
what a host process cannot have is refused (`runners.local_fields`).
Observing is cheap and prompt: each poll stats only the runs not yet seen ended (and the root,
listed again when it changed, or every few seconds), so an end is seen within a poll interval
however many ended run dirs the root keeps; runs submitted by any process are found.
Config: `root` (directory of run dirs), `python` (interpreter for supervisors), `poll_interval`
(seconds between observe polls), `system_metrics_interval` (seconds between the supervisor's
samples of its job's resources, `runners.local_metrics`; 0: none).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import field_validator

from runners import local_fields, local_launcher, local_launches, local_mounts
from runners.base import Observation, Runner, RunSpec
from runners.local_supervisor import (
    CANCEL,
    FINAL,
    LOGS,
    OUTPUTS,
    PID,
    SPEC,
    STATE,
    signal_group,
    supervising,
)
from schemas.settings import PluginSettings, setting
from schemas.status import RunStatus

LAUNCH_GRACE = 30.0  # seconds a submitted run may go without a supervisor pid before it is Lost
LIVENESS_INTERVAL = 0.5  # seconds between checks that a live run's supervisor is still there
RESCAN_INTERVAL = 5.0  # seconds between listings of the root even when its mtime is unchanged
MTIME_SETTLE_NS = 1_000_000_000  # a root changed this recently is listed on every poll
Signature = tuple[int, int, int]


class LocalSettings(PluginSettings):
    """Its `root` is the core's AXON_RUNS_DIR."""

    shared = ("root",)

    system_metrics_interval: float = setting(
        10.0, "seconds between a supervisor's samples of its job's CPU, memory and GPUs; 0: none"
    )

    @field_validator("system_metrics_interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"expected a number of seconds from 0, got {value!r}")
        return value


class LocalRunner(Runner):
    name = "local"

    @classmethod
    def unsupported(cls, component: dict[str, Any]) -> list[tuple[str, str]]:
        """What of `component` a process on the host would go without (runners.local_fields)."""
        return local_fields.unsupported(component)

    def __init__(
        self,
        root: str | Path,
        python: str = sys.executable,
        poll_interval: float = 0.025,
        system_metrics_interval: float = 10.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.python = python
        self.poll_interval = poll_interval
        self.system_metrics_interval = system_metrics_interval
        self._batch = threading.local()  # the launches in flight of this thread's `submitting`

    def submit(self, spec: RunSpec) -> str:
        kind = str((spec.component.get("run") or {}).get("kind") or "job")
        if kind not in self.kinds:
            # Never run a service or a distributed job as one local process.
            raise ValueError(f"run.kind: a {kind} cannot run on the local runner")
        external_id = attempt_id(spec.uuid, spec.attempt)
        run_dir = self._run_dir(external_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        # A submit again after one that claimed the run but died before its supervisor wrote a
        # pid (a worker killed in between) launches it: a supervisor that finds the pid file or
        # another holding the run leaves, so the run is still supervised exactly once.
        spec = local_mounts.carried(spec, run_dir)
        if self._claim(run_dir, spec) or read_pid(run_dir) is None:
            self._launch(run_dir)
        return external_id

    def cancel(self, external_id: str) -> None:
        run_dir = self._run_dir(external_id)
        if not (run_dir / SPEC).exists() or _is_final(read_state(run_dir)):
            return
        # The supervisor also polls this marker: it reaches one that has not yet written its pid.
        (run_dir / CANCEL).touch()
        pid = read_pid(run_dir)
        if pid is not None and supervisor_alive(pid, run_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            return
        # A dead supervisor can leave its job running; the job leads its own process group.
        running = [e for e in read_state(run_dir) if e["status"] == "running" and e.get("pid")]
        if running:
            signal_group(int(running[-1]["pid"]), signal.SIGKILL)

    def observe(self, stop: threading.Event | None = None) -> Iterator[Observation]:
        stop = stop or threading.Event()
        watch = _Watch(self)
        while True:
            yield from watch.poll()
            if stop.wait(self.poll_interval):
                return

    def logs(self, external_id: str) -> str:
        try:
            return (self._run_dir(external_id) / LOGS).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def outputs(self, external_id: str) -> Path | None:
        try:
            outputs = self._run_dir(external_id.split(".")[0]) / OUTPUTS
        except ValueError:  # not an id of ours: nothing of it here
            return None
        return outputs if outputs.is_dir() else None

    def _run_dir(self, external_id: str) -> Path:
        # A dot-name is never a run's (the launcher keeps `.launcher` in the root).
        if external_id.startswith(".") or not external_id or Path(external_id).name != external_id:
            raise ValueError(f"local runner: invalid run id {external_id!r}")
        return self.root / external_id

    def _claim(self, run_dir: Path, spec: RunSpec) -> bool:
        """Write spec.json unless it exists; True for the one caller that wrote it."""
        # mkstemp makes the file owner-only, which suits a spec whose env may carry a token.
        fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".spec.")
        try:
            with os.fdopen(fd, "w") as out:
                written = dataclasses.asdict(spec)
                written["system_metrics_interval"] = self.system_metrics_interval
                # The C encoder: an indented dump goes through the pure-Python one, 5x slower.
                out.write(json.dumps(written, default=str))
            # link() fails if the name exists, so two concurrent submits start one supervisor.
            os.link(tmp, run_dir / SPEC)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def _launch(self, run_dir: Path) -> None:
        launches: local_launches.Launches | None = getattr(self._batch, "launches", None)
        if launches is None:
            local_launcher.launch(self.root, run_dir, self.python)
        else:
            launches.send(run_dir)

    @contextlib.contextmanager
    def submitting(self) -> Iterator[None]:
        # The launcher's answers are read on leaving: its forks overlap the caller's next runs.
        if getattr(self._batch, "launches", None) is not None:
            yield  # inside an outer batch, which settles them all
            return
        self._batch.launches = local_launches.Launches(self.root, self.python)
        try:
            yield
        finally:
            launches, self._batch.launches = self._batch.launches, None
            launches.settle()

    def _transitions(self, run_dir: Path) -> list[dict[str, Any]]:
        """The run's recorded transitions, ending with a made-up one if its supervisor is gone."""
        entries = read_state(run_dir)
        if _is_final(entries) or not self._supervisor_gone(run_dir):
            return entries
        # The supervisor records its outcome before exiting: read again after seeing it gone.
        entries = read_state(run_dir)
        if _is_final(entries):
            return entries
        return [*entries, _gone_entry(run_dir)]

    def _supervisor_gone(self, run_dir: Path) -> bool:
        pid = read_pid(run_dir)
        if pid is None:
            try:
                return time.time() - (run_dir / SPEC).stat().st_mtime > LAUNCH_GRACE
            except FileNotFoundError:
                return False
        return not supervisor_alive(pid, run_dir)


class _Watch:
    """One observer's view of the root: the runs it has not yet seen end, and what it yielded.

    A poll stats each live run's state.json (read again only when it changed) and the root
    (listed again only when it changed), so its cost follows the runs going on, not the run
    dirs kept: thousands of ended runs cost nothing after the first poll.
    """

    def __init__(self, runner: LocalRunner) -> None:
        self.runner = runner
        self.yielded: dict[str, int] = {}
        self.live: dict[str, Signature | None] = {}  # run dir -> its state.json when last read
        self.ended: set[str] = set()
        self.unclaimed: set[str] = set()  # entries of the root without a spec.json (yet)
        self.listed_mtime: int | None = None
        self.listed_at = -math.inf
        self.checked_at = -math.inf

    def poll(self) -> Iterator[Observation]:
        now = time.monotonic()
        yield from self._discover(now)
        # A supervisor records its end before exiting, so only one killed outright needs the
        # slower pid check, and finding it a little later costs nothing.
        check = now - self.checked_at >= LIVENESS_INTERVAL
        if check:
            self.checked_at = now
        for name in list(self.live):
            signature = _signature(self.runner.root / name / STATE)
            if signature != self.live[name] or check:
                self.live[name] = signature
                yield from self._read(name, check)

    def _discover(self, now: float) -> Iterator[Observation]:
        root = self.runner.root
        try:
            mtime = os.stat(root).st_mtime_ns
        except FileNotFoundError:
            return
        # Directory mtimes follow the kernel's coarse clock: a run dir made in the same tick as
        # the last listing leaves the mtime as it was, so a root changed lately is listed again.
        settled = time.time_ns() - mtime > MTIME_SETTLE_NS
        names: set[str] = set()
        if mtime != self.listed_mtime or not settled or now - self.listed_at >= RESCAN_INTERVAL:
            self.listed_mtime, self.listed_at = mtime, now
            listed = {name for name in os.listdir(root) if not name.startswith(".")}
            # Forget run dirs pruned since, so what is kept follows what is on disk.
            self.ended &= listed
            self.unclaimed &= listed
            for name in self.live.keys() - listed:
                del self.live[name]
            names = listed - self.live.keys() - self.ended
        found = []
        for name in names | self.unclaimed:
            try:
                found.append((os.stat(root / name / SPEC).st_mtime, name))
            except (FileNotFoundError, NotADirectoryError):
                self.unclaimed.add(name)  # submit makes the dir before it writes the spec
            else:
                self.unclaimed.discard(name)
        for _, name in sorted(found):
            self.live[name] = _signature(root / name / STATE)
            yield from self._read(name, check=True)

    def _read(self, name: str, check: bool) -> Iterator[Observation]:
        run_dir = self.runner.root / name
        entries = self.runner._transitions(run_dir) if check else read_state(run_dir)
        seen = self.yielded.get(name, 0)
        for entry in entries[seen:]:
            yield to_observation(name, entry)
        self.yielded[name] = max(seen, len(entries))
        if _is_final(entries):
            self.live.pop(name, None)
            self.ended.add(name)
            self.yielded.pop(name, None)


def _signature(path: Path) -> Signature | None:
    """What changes whenever the file is rewritten: an atomic replace gives it a new inode."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def attempt_id(uuid: str, attempt: int) -> str:
    """The external id (and run dir) of one try of a run: its uuid, then `<uuid>.<attempt>`.

    A retried run gets a fresh directory, so submit stays idempotent for each try and the
    observations of an earlier try never pass for the new one's.
    """
    return uuid if attempt <= 0 else f"{uuid}.{attempt}"


def _gone_entry(run_dir: Path) -> dict[str, Any]:
    entry = {"status": "stopped", "reason": "Stopped", "message": "stopped by request"}
    if not (run_dir / CANCEL).exists():
        pid = read_pid(run_dir)
        message = f"the supervisor (pid {pid}) ended without recording an outcome"
        if pid is None:
            message = f"no supervisor started within {LAUNCH_GRACE:g}s"
        with contextlib.suppress(OSError):  # its last words, usually a traceback's last line
            lines = (run_dir / "supervisor.log").read_text(errors="replace").strip().splitlines()
            message += f"; supervisor.log: {lines[-1]}" if lines else ""
        entry = {"status": "failed", "reason": "Lost", "message": message}
    return {**entry, "time": datetime.now(UTC).isoformat()}


def _is_final(entries: list[dict[str, Any]]) -> bool:
    return bool(entries) and entries[-1]["status"] in FINAL


def to_observation(external_id: str, entry: dict[str, Any]) -> Observation:
    return Observation(
        external_id=external_id,
        status=RunStatus(entry["status"]),
        reason=entry.get("reason", ""),
        message=entry.get("message", ""),
        at=datetime.fromisoformat(entry["time"]),
        exit_code=entry.get("exit_code"),
    )


def read_state(run_dir: Path) -> list[dict[str, Any]]:
    try:
        entries: list[dict[str, Any]] = json.loads((run_dir / STATE).read_text())
    except (FileNotFoundError, ValueError):
        return []
    return entries


def read_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / PID).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def supervisor_alive(pid: int, run_dir: Path) -> bool:
    """Whether `pid` is still this run's supervisor (not a zombie, not a reused pid)."""
    if supervising(run_dir):
        return True
    # A supervisor started before supervisors held their run's lock: known by its command line.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A zombie's cmdline is empty and a reused pid's names another program.
        return run_dir.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()  # no procfs: trust the signal check
