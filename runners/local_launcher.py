"""Starts local runs' supervisors: forked by one long-lived launcher per runs root, or spawned.

Features: the launcher (`python -m runners.local_launcher <root> <identity>`) has
`runners.local_supervisor` imported once and forks a supervisor per run (detached with setsid,
stdio to the run dir's `supervisor.log`, cwd the run dir), which costs a fork instead of an
interpreter's start. It is started by the first submit that finds none, with the supervisors'
scrubbed environment (`supervisor_env()`), and never reads a spec, so neither its environment
nor its memory holds the worker's secrets or a run's. It is found again at
`<root>/.launcher/socket` (a directory only its user can enter; a peer of another uid is
refused). One per root: it holds `.launcher/lock` while it lives, and submits racing to start
one take `.launcher/start.lock` in turn. It is started again when it died, replaced when its
identity (interpreter, environment, the supervisor's code) no longer matches the submitter's,
and leaves after `IDLE_EXIT` seconds without a request. Supervisors outlive it. A submit that
cannot reach a launcher spawns the supervisor as an interpreter of its own, so no run is lost.
Config: none; the runner's `root` and `python`.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util  # noqa: F401
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

# Imported here so that the launcher has them loaded before it forks the first supervisor,
# which would otherwise import them again for every run (importlib.util: its client_path).
from runners import local_metrics  # noqa: F401
from runners.local_supervisor import Supervisor

# Names for annotations only: the launcher's own start stays light.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

HOME, SOCKET, LOCK, START_LOCK, PID, LOG = (
    ".launcher",
    "socket",
    "lock",
    "start.lock",
    "pid",
    "launcher.log",
)
# The supervisor runs git and python; it needs to find them and no more.
SUPERVISOR_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
CODE_DIR = Path(__file__).resolve().parent.parent
# What a launcher has loaded: a change to any of these makes it one of an older code.
PRELOADED = ("local_launcher.py", "local_supervisor.py", "local_metrics.py")
START_TIMEOUT = 10.0  # seconds a submit waits for a launcher it started to listen
REPLY_TIMEOUT = 5.0  # seconds a submit waits for a launcher's answer before spawning instead
LOCK_PATIENCE = 2.0  # seconds a new launcher waits for one that is leaving to let go of the root
IDLE_EXIT = 60.0  # seconds without a request after which a launcher leaves
POLL = 0.005  # seconds between checks while a launcher starts


def supervisor_env() -> dict[str, str]:
    """The supervisor's whole environment: its job can read it at /proc/$PPID/environ.

    The worker's environment holds Axon's secrets (the secret key that signs run tokens, the
    database URL, report credentials), so none of it is passed on; spec.json in the run dir is
    all the supervisor needs.
    """
    env = {key: os.environ[key] for key in SUPERVISOR_ENV if key in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(CODE_DIR), os.environ.get("PYTHONPATH")) if p
    )
    return env


def identity(python: str) -> str:
    """What a launcher must share with a submitter to fork its supervisors."""
    parts = [python, *sorted(f"{k}={v}" for k, v in supervisor_env().items())]
    for name in PRELOADED:
        stat = os.stat(CODE_DIR / "runners" / name)
        parts.append(f"{name}:{stat.st_mtime_ns}:{stat.st_size}")
    import hashlib  # the submitter's side only

    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


# ---- the submitter's side -----------------------------------------------------------------------


def launch(root: Path, run_dir: Path, python: str) -> None:
    """Start `run_dir`'s supervisor: forked by the root's launcher, spawned if there is none."""
    try:
        if _through_launcher(root, run_dir, python):
            return
        why = f"see {root / HOME / LOG}"
    except OSError as exc:  # an unusable root or socket path: the spawn path still works
        why = str(exc)
    import logging  # the submitter's side only, where it is loaded already

    logging.getLogger(__name__).warning("no launcher for %s (%s): spawning", run_dir.name, why)
    spawn_supervisor(python, run_dir)


def _through_launcher(root: Path, run_dir: Path, python: str) -> bool:
    home, code = root / HOME, identity(python)
    for _ in range(2):
        reply = _ask(home, f"{code}\0{run_dir}")
        if reply is not None and reply.startswith("ok "):
            return True
        if reply is not None and reply != "stale":  # refused, with the reason in its log
            return False
        if not _start(root, python, code):
            return False
    return False


def _ask(home: Path, request: str) -> str | None:
    """The launcher's one-line answer; None if no launcher listens, "" if it hung up."""
    sock = send_request(home, request)
    if sock is None:
        return None
    with sock:
        if not request:
            return ""
        try:
            return read_line(sock)
        except TimeoutError:
            return ""


def send_request(home: Path, request: str) -> socket.socket | None:
    """A connection to the launcher with `request` sent on it; None if no launcher listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(REPLY_TIMEOUT)
        sock.connect(str(home / SOCKET))
        if request:
            sock.sendall(request.encode() + b"\n")
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except BaseException:
        sock.close()
        raise
    return sock


def _start(root: Path, python: str, code: str) -> bool:
    """Start the root's launcher unless another submit just did; whether one listens now."""
    home = root / HOME
    home.mkdir(mode=0o700, exist_ok=True)
    deadline = time.monotonic() + START_TIMEOUT
    with open(home / START_LOCK, "a") as turn:
        if not _lock(turn, fcntl.LOCK_EX, deadline):
            return False
        if _ask(home, "") is not None:
            return True  # started by the submit whose turn came first
        with open(home / LOG, "ab") as out:
            proc = subprocess.Popen(
                [python, "-S", "-m", "runners.local_launcher", str(root), code],
                cwd=home,
                env=supervisor_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() < deadline and proc.poll() is None:
            if _ask(home, "") is not None:
                _reap(proc)
                return True
            time.sleep(POLL)
        _reap(proc)
    return False


def spawn_supervisor(python: str, run_dir: Path) -> None:
    """The supervisor as an interpreter of its own, when no launcher can fork it."""
    with open(run_dir / "supervisor.log", "ab") as out:
        proc = subprocess.Popen(
            # -S: the supervisor needs the standard library and our code, not site-packages.
            [python, "-S", "-m", "runners.local_supervisor", str(run_dir)],
            cwd=run_dir,
            env=supervisor_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _reap(proc)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    # Reaped when it ends, so it never lingers as a zombie.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


def _lock(file: IO[Any], how: int, deadline: float) -> bool:
    while True:
        try:
            fcntl.flock(file, how | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)


def read_line(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def launcher_pid(root: Path) -> int | None:
    """The pid of the root's live launcher, if one lives."""
    home = Path(root) / HOME
    try:
        with open(home / LOCK, "rb") as held:
            if _lock(held, fcntl.LOCK_SH, 0.0):
                return None  # nobody holds it
        return int((home / PID).read_text())
    except (OSError, ValueError):
        return None


def stop_launcher(root: Path, timeout: float = 5.0) -> None:
    """Ask the root's launcher to leave and wait until it has; its supervisors go on."""
    pid = launcher_pid(root)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while launcher_pid(root) is not None and time.monotonic() < deadline:
        time.sleep(POLL)


# ---- the launcher's side ------------------------------------------------------------------------


class Launcher:
    def __init__(self, root: Path, code: str) -> None:
        self.root, self.code, self.home = root, code, root / HOME
        self.life: IO[bytes] | None = None
        self.listener: socket.socket | None = None
        self.bound: tuple[int, int] | None = None
        self.gate: int | None = None  # a write end held open until the submitter has its answer

    def serve(self) -> None:
        self.life = open(self.home / LOCK, "ab")
        if not _lock(self.life, fcntl.LOCK_EX, time.monotonic() + LOCK_PATIENCE):
            return  # another launcher serves this root
        # Written while holding the lock, so the pid file names the lock's holder.
        (self.home / PID).write_text(f"{os.getpid()}\n")
        path = self.home / SOCKET
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a launcher that was killed
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        stat = os.stat(path)
        self.bound = (stat.st_dev, stat.st_ino)
        self.listener.listen(128)
        self.listener.settimeout(IDLE_EXIT)
        name("axon-launcher")
        # Supervisors are reaped by the kernel the moment they end: nobody here waits for them.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        try:
            while self._serve_one():
                pass
        finally:
            self.leave()

    def _serve_one(self) -> bool:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            return False
        with conn:
            conn.settimeout(REPLY_TIMEOUT)
            try:
                request = read_line(conn)
            except OSError:
                return True
            if not request:
                return True  # a check that someone listens
            try:
                reply = self._answer(conn, request)
            except OSError as exc:  # a fork refused, say: that submit spawns instead
                print(f"could not launch {request!r}: {exc}", file=sys.stderr)
                reply = f"refused: {exc}"
            with contextlib.suppress(OSError):
                conn.sendall(reply.encode() + b"\n")
        self._open_gate()
        return reply != "stale"

    def _open_gate(self) -> None:
        # A forked supervisor starts its work once the submitter has its answer: on a busy
        # machine the child would otherwise take the CPU between the fork and the reply.
        if self.gate is not None:
            os.close(self.gate)
            self.gate = None

    def _answer(self, conn: socket.socket, request: str) -> str:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            return "refused: another user"
        code, _, where = request.partition("\0")
        if code != self.code:
            self.leave()  # a submitter of other code or settings: it starts its own launcher
            return "stale"
        run_dir = Path(where)
        if run_dir.parent != self.root or run_dir.name.startswith(".") or not run_dir.is_dir():
            print(f"refused {where!r}: not a run directory of {self.root}", file=sys.stderr)
            return "refused: not a run directory"
        sys.stdout.flush()
        sys.stderr.flush()
        gate, opened = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(opened)
            self._become_supervisor(run_dir, conn, gate)
        os.close(gate)
        self.gate = opened
        return f"ok {pid}"

    def _become_supervisor(self, run_dir: Path, conn: socket.socket, gate: int) -> None:
        """In the forked child: leave the launcher behind and supervise the run; never returns."""
        status = 1
        try:
            os.read(gate, 1)  # returns once the launcher has answered (or died): see _open_gate
            os.close(gate)
            # A supervisor holding the launcher's lock would keep a new launcher from starting.
            for held in (conn, self.listener, self.life):
                if held is not None:
                    held.close()
            os.setsid()
            name("axon-supervisor")
            for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            os.chdir(run_dir)
            out = os.open(run_dir / "supervisor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.close(out)
            os.close(null)
            Supervisor(run_dir).run()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status)

    def leave(self) -> None:
        """Stop listening; the socket goes only if it is still ours, not a successor's."""
        if self.listener is None:
            return
        self.listener.close()
        self.listener = None
        with contextlib.suppress(OSError):
            stat = os.stat(self.home / SOCKET)
            if (stat.st_dev, stat.st_ino) == self.bound:
                os.unlink(self.home / SOCKET)


def name(comm: str) -> None:
    """What `ps` and `top` call this process (its command line stays the launcher's)."""
    with contextlib.suppress(OSError):  # Linux only
        Path("/proc/self/comm").write_text(comm)


def _on_term(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python -m runners.local_launcher <root> <identity>")
    signal.signal(signal.SIGTERM, _on_term)
    Launcher(Path(sys.argv[1]).resolve(), sys.argv[2]).serve()


if __name__ == "__main__":
    main()
