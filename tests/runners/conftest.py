"""Fixtures for runner tests: a local runner that cleans up after itself, a real git remote."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runners.local import LocalRunner
from runners.local_launcher import stop_launcher
from schemas.status import DONE

GIT = ["git", "-c", "user.name=Axon Test", "-c", "user.email=axon@example.com"]
GIT += ["-c", "init.defaultBranch=main"]


@dataclass(frozen=True)
class GitRemote:
    url: str
    first_sha: str
    second_sha: str


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def git_remote(tmp_path: Path) -> GitRemote:
    """A bare repository at a file:// URL whose `main` has two commits: version.txt one, two."""
    bare, work = tmp_path / "remote.git", tmp_path / "author"
    git("init", "--bare", str(bare))
    git("clone", bare.as_uri(), str(work))
    shas = []
    for version in ("one", "two"):
        (work / "version.txt").write_text(f"{version}\n")
        git("add", "version.txt", cwd=work)
        git("commit", "-m", f"version {version}", cwd=work)
        shas.append(git("rev-parse", "HEAD", cwd=work))
    git("push", "origin", "main", cwd=work)
    return GitRemote(bare.as_uri(), *shas)


@pytest.fixture
def local_runner(tmp_path: Path) -> Iterator[LocalRunner]:
    runner = LocalRunner(tmp_path / "runs", poll_interval=0.05)
    yield runner
    stop_every_run(runner)
    stop_launcher(runner.root)


def stop_every_run(runner: LocalRunner, timeout: float = 10.0) -> None:
    """Cancel what is still going and wait until every run has ended, so no process outlives us."""
    runs = {path.parent.name for path in runner.root.glob("*/spec.json")}
    if not runs:
        return
    for external_id in runs:
        runner.cancel(external_id)
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    ended: set[str] = set()
    try:
        for observation in runner.observe(stop):
            if observation.status in DONE:
                ended.add(observation.external_id)
            if ended >= runs:
                break
    finally:
        timer.cancel()
        stop.set()
    assert ended >= runs, f"runs still going after cleanup: {sorted(runs - ended)}"
    for external_id in runs:  # a Lost run's job outlives its supervisor; cancel reaches it
        runner.cancel(external_id)
