"""The detached supervisor of one local run: forked by `runners.local_launcher`, or on its own
`python -m runners.local_supervisor <run_dir>`.

Features: `git clone` + `git checkout --detach` of the spec's sha (or ref); the command as an
argument list in its own process group with a minimal environment; stdout, stderr and git output
appended to `logs.txt`; the timeout (counted from the supervisor's start, checkout included) and
SIGTERM (cancel) stop the whole process group (SIGTERM, then SIGKILL after a grace). Every
transition is appended to `state.json`, written atomically. One supervisor per run: it holds
an exclusive lock on `spec.json` while it lives, and a second one started for the same run
(however it came to be) leaves without touching it; the lock is also how others tell that it lives.
While the job runs, its CPU and memory are sampled from outside (`runners.local_metrics`).
Imports only the standard library (and no `runners.base`), so a spawned supervisor starts fast;
psutil is loaded by the sampling thread once the job has started.
Config: none; everything comes from the run dir's `spec.json` (written by `LocalRunner.submit`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

# Names for annotations only: importing `typing` would cost a spawned supervisor's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import IO, Any

SPEC, STATE, PID, LOGS, CANCEL = (
    "spec.json",
    "state.json",
    "supervisor.pid",
    "logs.txt",
    "cancel.requested",
)
OUTPUTS = "outputs"  # the job's AXON_OUTPUTS_PATH, below `<root>/<uuid>/`
FINAL = frozenset({"succeeded", "failed", "stopped"})
KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
TICK = 0.05  # seconds between checks for cancel and the deadline
CLAIM_PATIENCE = 1.0  # seconds a supervisor retries the run's lock (an observer holds it briefly)
SAFE_ENV = ("PATH", "HOME", "LANG")
# A clone URL may carry a token, and the logs are shown to anyone who can see the run.
URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class Outcome(Exception):
    """How the run ended early: raised from deep inside, recorded once at the top."""

    def __init__(self, status: str, reason: str, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.status, self.reason, self.message, self.exit_code = status, reason, message, exit_code


def write_atomic(path: Path, text: str) -> None:
    """Readers in other processes see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_spec(path: Path) -> dict[str, Any]:
    """spec.json as `LocalRunner.submit` wrote it: `runners.base.RunSpec`'s fields."""
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec


def claim(run_dir: Path) -> IO[bytes] | None:
    """The run's lock, held until this process ends; None if another supervisor has or had it.

    Exactly one supervisor runs a run's job even if two were started for it (a launcher that
    answered too late for a submit that then spawned one itself).
    """
    lock = open(run_dir / SPEC, "rb")
    deadline = time.monotonic() + CLAIM_PATIENCE
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # An observer's liveness check holds a shared lock for an instant; a supervisor
            # holds it for good.
            if time.monotonic() >= deadline:
                lock.close()
                return None
            time.sleep(TICK / 5)
    # The pid file is the first thing a supervisor writes once it holds the lock.
    if (run_dir / PID).exists():
        lock.close()
        return None
    return lock


def supervising(run_dir: Path) -> bool:
    """Whether a supervisor holds the run now: its lock lives exactly as long as it does, so a
    killed supervisor, a zombie and a reused pid all read as gone."""
    try:
        fd = os.open(run_dir / SPEC, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # which also lets go of the shared lock taken just now
    return False


def exit_outcome(code: int) -> Outcome:
    if code == 0:
        return Outcome("succeeded", "", "exit code 0", 0)
    # subprocess reports death by a signal as the negated signal number.
    message = f"killed by signal {-code} ({signal.strsignal(-code)})" if code < 0 else ""
    return Outcome("failed", "Error", message or f"exit code {code}", code)


class Supervisor:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.transitions: list[dict[str, Any]] = []
        self.stop_requested = False
        self.deadline: float | None = None
        self.timeout: float | None = None
        self.log = open(run_dir / LOGS, "ab", buffering=0)
        self.lock: IO[bytes] | None = None

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.lock = claim(self.run_dir)
        if self.lock is None:
            print(f"[axon] another supervisor has run {self.run_dir.name}; leaving it alone")
            return
        write_atomic(self.run_dir / PID, f"{os.getpid()}\n")
        self.record("starting", message=f"supervisor pid {os.getpid()}")
        try:
            spec = load_spec(self.run_dir / SPEC)
            if spec.get("timeout") is not None:
                self.timeout = float(spec["timeout"])
                self.deadline = time.monotonic() + self.timeout
            self.check_stop()
            git = spec.get("git")
            cwd = self.checkout(git["url"], git.get("sha", ""), git.get("ref", "")) if git else None
            cwd = cwd or self.run_dir / "work"
            cwd.mkdir(exist_ok=True)
            self.check_stop()
            outcome = exit_outcome(self.execute(spec, cwd))
        except Outcome as ended:
            outcome = ended
        except Exception as exc:  # recorded so the run ends visibly instead of being Lost
            outcome = Outcome("failed", "Error", f"supervisor error: {exc!r}")
        self.note(f"run {outcome.status}: {outcome.message}")
        self.record(outcome.status, outcome.reason, outcome.message, exit_code=outcome.exit_code)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True

    def record(self, status: str, reason: str = "", message: str = "", **extra: Any) -> None:
        at = datetime.now(UTC).isoformat()
        entry = {"status": status, "reason": reason, "message": message, "time": at}
        self.transitions.append({**entry, "exit_code": None, **extra})
        write_atomic(self.run_dir / STATE, json.dumps(self.transitions, indent=1))

    def note(self, line: str, prefix: str = "[axon] ") -> None:
        self.log.write(f"{prefix}{line.rstrip()}\n".encode(errors="replace"))

    def interruption(self) -> Outcome | None:
        """Why the run must end now, if it must: a cancel or the deadline."""
        if self.stop_requested or (self.run_dir / CANCEL).exists():
            return Outcome("stopped", "Stopped", "stopped by request")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return Outcome("failed", "DeadlineExceeded", f"timeout of {self.timeout:g}s exceeded")
        return None

    def check_stop(self) -> None:
        if ended := self.interruption():
            raise ended

    def wait(self, proc: subprocess.Popen[bytes]) -> int:
        """The exit code, or an Outcome once a cancel or the deadline stopped the process group."""
        with exit_watch(proc.pid) as exited:
            while True:
                if exited is not None:
                    # Wakes the moment the process exits; Popen.wait(timeout) naps up to 50 ms.
                    select.select([exited], [], [], TICK)
                try:
                    return proc.wait(timeout=0 if exited is not None else TICK)
                except subprocess.TimeoutExpired:
                    pass
                if ended := self.interruption():
                    self.note(f"{ended.message}; stopping the process group")
                    self.kill_group(proc)
                    ended.exit_code = proc.returncode
                    raise ended

    def kill_group(self, proc: subprocess.Popen[bytes]) -> None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            pass
        # Children that ignored SIGTERM may outlive the leader; the group id still reaches them.
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    def checkout(self, url: str, sha: str, ref: str) -> Path:
        repo = self.run_dir / "repo"
        for value in (sha, ref):
            if value.startswith("-"):  # event fields are untrusted; never let one become an option
                raise Outcome("failed", "CheckoutFailed", f"refusing git revision {value!r}")
        self.git(["clone", "--", url, str(repo)], self.run_dir)
        if ref and not sha:
            self.git(["fetch", "origin", ref], repo)
        target = sha or ("FETCH_HEAD" if ref else "")
        if target:
            self.git(["checkout", "--detach", target], repo)
        return repo

    def git(self, args: list[str], cwd: Path) -> None:
        self.note(URL_CREDENTIALS.sub("***@", f"git {' '.join(args)}"))
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        proc = spawn(["git", *args], cwd, env, subprocess.PIPE)
        tail: deque[str] = deque(maxlen=20)
        assert proc.stdout is not None
        pump = threading.Thread(target=self._pump, args=(proc.stdout, tail), daemon=True)
        pump.start()
        try:
            code = self.wait(proc)
        finally:
            pump.join()
            proc.stdout.close()
        if code != 0:
            errors = [line for line in tail if line.startswith(("fatal:", "error:"))]
            detail = " ".join(errors or list(tail)[-1:]) or f"exit code {code}"
            raise Outcome("failed", "CheckoutFailed", f"git {args[0]} failed: {detail}", code)

    def _pump(self, stream: IO[bytes], tail: deque[str]) -> None:
        for raw in stream:
            line = URL_CREDENTIALS.sub("***@", raw.decode(errors="replace").rstrip())
            tail.append(line)
            self.note(line, prefix="[git] ")

    def execute(self, spec: dict[str, Any], cwd: Path) -> int:
        command: list[str] = spec.get("command") or []
        if not command:
            raise Outcome("failed", "Error", "no command to run")
        self.note(f"running {command!r} in {cwd}")
        try:
            proc = spawn(command, cwd, self.job_env(spec), self.log)
        except FileNotFoundError as exc:
            raise Outcome("failed", "Error", f"command not found: {command[0]!r}") from exc
        except PermissionError as exc:
            message = f"command not executable: {command[0]!r}"
            raise Outcome("failed", "Error", message) from exc
        self.record("running", message=f"command started (pid {proc.pid})", pid=proc.pid)
        from runners import local_metrics  # preloaded by the launcher; spawned, imported here

        sampling = local_metrics.start(spec, proc.pid)
        try:
            code = self.wait(proc)
        finally:
            if sampling is not None:
                sampling.stop()
        # Like a finished pod: nothing the job spawned outlives it.
        signal_group(proc.pid, signal.SIGKILL)
        return code

    def job_env(self, spec: dict[str, Any]) -> dict[str, str]:
        # The worker's environment holds Axon's own secrets, so the job gets only a safe base.
        env = {key: os.environ[key] for key in SAFE_ENV if key in os.environ}
        env.setdefault("PATH", os.defpath)
        env.update({"PYTHONUNBUFFERED": "1", "AXON_RUN_UUID": spec["uuid"]})
        own: dict[str, str] = spec.get("env") or {}
        env.update(own)
        paths = [str(self.client_path()), own.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        # Set after the spec's own: this is the directory collected when the job ends.
        outputs = str(self.outputs_dir(spec["uuid"]))
        env.update(AXON_OUTPUTS_PATH=outputs, POLYAXON_RUN_OUTPUTS_PATH=outputs)
        from runners import local_metrics

        if local_metrics.samples(spec):
            # This supervisor samples the job's process tree: the job's own client must not
            # write the same series beside it (axon_tracking reads this).
            env["AXON_SYSTEM_SAMPLED_BY"] = "runner"
        return env

    def outputs_dir(self, uuid: str) -> Path:
        """`<root>/<uuid>/outputs`: `globals.run_outputs_path`, shared by the run's attempts
        (a retry or resume finds what the last one left, as a copy finds the original's)."""
        outputs = self.run_dir.parent / uuid / OUTPUTS
        outputs.mkdir(parents=True, exist_ok=True)
        return outputs

    def client_path(self) -> Path:
        """A directory holding only `axon_tracking`: the job's imports see nothing else of ours."""
        target = self.run_dir / "pythonpath"
        import importlib.util  # here: only a run with a job to start needs it

        found = importlib.util.find_spec("axon_tracking")
        if found and found.submodule_search_locations:
            source = Path(list(found.submodule_search_locations)[0])
            # A link, not a copy: one call instead of a directory of files written per run.
            target.mkdir(exist_ok=True)
            with contextlib.suppress(FileExistsError):  # a retry's attempt shares the run dir
                (target / "axon_tracking").symlink_to(source, target_is_directory=True)
        return target


def spawn(argv: list[str], cwd: Path, env: dict[str, str], out: Any) -> subprocess.Popen[bytes]:
    """Start `argv` as the leader of a new process group, so stopping it reaches its children."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextlib.contextmanager
def exit_watch(pid: int) -> Iterator[int | None]:
    """A descriptor readable once `pid` exits (Linux 5.3+), or None where there is none."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m runners.local_supervisor <run_dir>")
    Supervisor(Path(sys.argv[1]).resolve()).run()


if __name__ == "__main__":
    main()
