"""A batch of supervisor launches whose launcher answers are read after its last request.

Features: `LocalRunner.submitting` holds one while a caller submits several runs before it
commits (a dag's ops started together), so the launcher's forks overlap the caller's work on
its next runs instead of each submit waiting for its answer. A request that finds no launcher,
or whose answer is not a fork, takes `local_launcher.launch`'s whole path when the batch
settles: no run is left without its supervisor.
Config: none; the runner's `root` and `python`.
"""

from __future__ import annotations

import socket
from pathlib import Path

from runners import local_launcher


class Launches:
    """Requests `send` hands to the root's launcher; `settle` reads their answers."""

    def __init__(self, root: Path, python: str) -> None:
        self.root, self.python = root, python
        self.sent: list[tuple[Path, socket.socket]] = []

    def send(self, run_dir: Path) -> None:
        try:
            sock = local_launcher.send_request(
                self.root / local_launcher.HOME,
                f"{local_launcher.identity(self.python)}\0{run_dir}",
            )
        except OSError:
            sock = None
        if sock is None:
            local_launcher.launch(self.root, run_dir, self.python)
        else:
            self.sent.append((run_dir, sock))

    def settle(self) -> None:
        sent, self.sent = self.sent, []
        for run_dir, sock in sent:
            with sock:
                try:
                    reply = local_launcher.read_line(sock)
                except OSError:  # timed out, or reset by a launcher that left
                    reply = ""
            if not reply.startswith("ok "):
                local_launcher.launch(self.root, run_dir, self.python)
