"""Axon as users run it: separate processes, configured only through AXON_* variables."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from runners.local_launcher import stop_launcher
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Axon:
    """Starts Axon's processes for one mode and talks to its API."""

    def __init__(
        self,
        mode: str,
        home: Path,
        env: dict[str, str],
        per_process: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.mode, self.home = mode, home
        self.per_process = per_process or {}
        # Production refuses to serve without a token; the embedded default on loopback needs
        # none, and makes its first admin instead, whose token (`token`) it prints once.
        self.api_token = "" if mode == "embedded" else f"e2e-api-token-{secrets.token_hex(8)}"
        self.token = self.api_token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "AXON_HOME": str(home),
            "AXON_PORT": str(self.port),
            "AXON_PUBLIC_URL": self.url,
            "AXON_RUNS_DIR": str(home / "runs"),
            "AXON_SECRET_KEY": "e2e-secret-key",
            "AXON_SWEEP_INTERVAL_SECONDS": "1",
            "AXON_LOG_LEVEL": "INFO",
            "AXON_API_TOKEN": self.api_token,
            **env,
        }
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def commands(self) -> list[tuple[str, list[str]]]:
        if self.mode == "embedded":
            return [("serve", [str(BIN / "axon"), "serve"])]
        gunicorn = [
            str(BIN / "gunicorn"),
            "wsgi:app",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--no-control-socket",
        ]
        return [
            ("api", gunicorn),
            ("worker", [str(BIN / "axon"), "worker", "-c", "2"]),
            ("agent", [str(BIN / "axon"), "agent"]),
        ]

    def start(self, skip: tuple[str, ...] = ()) -> Axon:
        """Start every process of the mode except those named in `skip`."""
        if self.mode != "embedded":
            subprocess.run(
                [str(BIN / "axon"), "db", "upgrade"],
                env=self.env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
        for name, _ in self.commands():
            if name not in skip:
                self.start_process(name)
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        if not self.token:
            self.token = self.printed_token()
        return self

    def printed_token(self) -> str:
        """The admin's token the embedded default printed on its first start."""
        found = re.search(r"export AXON_API_TOKEN=(\S+)", (self.home / "serve.log").read_text())
        assert found, f"no token printed on the first start\n{self.logs()}"
        return found.group(1)

    def start_process(self, name: str) -> None:
        command = dict(self.commands())[name]
        env = {**self.env, **self.per_process.get(name, {})}
        with open(self.home / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))

    def kill_process(self, name: str) -> None:
        """Kill one of the processes at once (SIGKILL, no clean shutdown), as a crash would."""
        for entry in [e for e in self.processes if e[0] == name]:
            process = entry[1]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            self.processes.remove(entry)

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            for name, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"axon {name} exited:\n{self.logs()}")
            try:
                return requests.get(self.url + "/healthz", timeout=5).ok
            except requests.RequestException:
                return False

        wait_for(healthy, timeout, 0.1, lambda: f"axon answering /healthz\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.home.glob("*.log"))
        )

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # The local runner's launcher left the workers' process groups; runs it forked go on.
        stop_launcher(Path(self.env["AXON_RUNS_DIR"]))

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request with the token, as a user's client sends it; `headers` may replace it."""
        headers = {"Authorization": f"Bearer {self.token}"}
        headers.update(kwargs.pop("headers", None) or {})
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def wait_for_run(
        self, project: str, done: bool = True, timeout: float = 30.0
    ) -> dict[str, Any]:
        """The project's newest run once it exists (and, with `done`, once it has finished)."""
        finished = {"succeeded", "failed", "stopped", "skipped", "upstream_failed"}

        def newest() -> str | None:
            runs = self.api("GET", "/api/v1/runs", params={"project": project}).json()
            return runs[0]["uuid"] if runs and (not done or runs[0]["status"] in finished) else None

        what = "a finished run" if done else "a run"
        uuid = wait_for(newest, timeout, 0.1, lambda: f"{what} in {project}\n{self.logs()}")
        return self.api("GET", f"/api/v1/runs/{uuid}").json()

    def wait_for_status(self, uuid: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            run = self.api("GET", f"/api/v1/runs/{uuid}").json()
            return run if run["status"] == status else None

        return wait_for(
            reached, timeout, 0.1, lambda: f"run {uuid} reaching {status}\n{self.logs()}"
        )
