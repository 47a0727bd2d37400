"""End-to-end fixtures: a git repository to check out, the API doubles, Axon in each mode."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kombu import Connection

from tests.conftest import BROKER_URL, drop_database, fresh_database
from tests.e2e.harness import Axon
from tests.fakes.github import GitHubDouble
from tests.fakes.slack import SlackDouble

RABBITMQ = BROKER_URL
GITHUB_TOKEN = "ghp_e2eToken0123456789"

TRAIN = """\
import argparse, subprocess, sys, time
import axon_tracking

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--exit-code", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0)
args = parser.parse_args()
head = subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
print(f"training at {head} with lr={args.lr}", flush=True)
print(open("VERSION").read().strip(), file=sys.stderr, flush=True)
time.sleep(args.sleep)
axon_tracking.log_outputs(accuracy=0.93, loss=0.21)
sys.exit(args.exit_code)
"""


def git(*args: str, cwd: Path) -> str:
    base = [
        "git",
        "-c",
        "user.name=Octo Cat",
        "-c",
        "user.email=octo@example.com",
        "-c",
        "init.defaultBranch=main",
    ]
    return subprocess.run(
        base + list(args), cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A bare repository over file:// with two commits; runs must check out the first."""
    root = tmp_path_factory.mktemp("git")
    bare, work = root / "model.git", root / "work"
    git("init", "--bare", str(bare), cwd=root)
    git("clone", str(bare), str(work), cwd=root)
    (work / "train.py").write_text(TRAIN)
    (work / "VERSION").write_text("model v1\n")
    git("add", ".", cwd=work)
    git("commit", "-m", "first model", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    (work / "VERSION").write_text("model v2\n")
    git("commit", "-am", "second model", cwd=work)
    git("push", "origin", "HEAD:main", cwd=work)
    return {"url": f"file://{bare}", "sha": first}


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(token=GITHUB_TOKEN) as double:
        yield double


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackDouble]:
    with SlackDouble() as double:
        yield double


@pytest.fixture(autouse=True)
def _fresh_doubles(github: GitHubDouble, slack: SlackDouble) -> None:
    github.reset()
    slack.reset()


def _production_env(stack: list) -> dict[str, str]:
    database = fresh_database("axon_e2e")
    queue = f"axon-e2e-{uuid.uuid4().hex[:8]}"
    stack.append(lambda: drop_database(database))
    stack.append(lambda: _delete_queue(queue))
    return {
        "AXON_EMBEDDED": "false",
        "AXON_DATABASE_URL": database,
        "AXON_BROKER_URL": RABBITMQ,
        "AXON_QUEUE": queue,
    }


def _delete_queue(queue: str) -> None:
    with Connection(RABBITMQ) as connection:
        connection.default_channel.queue_delete(queue)


@pytest.fixture
def production_axon(
    tmp_path: Path, github: GitHubDouble, slack: SlackDouble, postgres: str, rabbitmq: str
) -> Iterator[Callable[..., Axon]]:
    """Make (but not start) a production-mode Axon of the test's own, with per-process env."""
    made: list[Axon] = []
    cleanup: list = []

    def make(per_process: dict[str, dict[str, str]] | None = None, **env: str) -> Axon:
        settings = {**_doubles_env(github, slack), **_production_env(cleanup), **env}
        server = Axon("production", tmp_path / f"axon{len(made)}", settings, per_process)
        server.home.mkdir()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
    for step in reversed(cleanup):
        step()


def _doubles_env(github: GitHubDouble, slack: SlackDouble) -> dict[str, str]:
    return {
        "AXON_GITHUB_API_URL": github.url,
        "AXON_GITHUB_TOKEN": GITHUB_TOKEN,
        "AXON_SLACK_WEBHOOK_URL": slack.webhook_url,
        "AXON_NOTIFY_TIMEOUT_SECONDS": "5",
    }


# The `axon` fixture's production mode, marked for the services it runs on: a test that picks
# the mode itself (indirect parametrization) picks this, so the marks come along.
PRODUCTION = pytest.param("production", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])


@pytest.fixture(scope="module", params=["embedded", PRODUCTION])
def axon(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    github: GitHubDouble,
    slack: SlackDouble,
) -> Iterator[Axon]:
    """Axon on SQLite with its in-process worker, or on PostgreSQL + RabbitMQ with
    gunicorn, `axon worker` and `axon agent` as separate processes."""
    cleanup: list = []
    env = _doubles_env(github, slack)
    if request.param == "production":
        env.update(_production_env(cleanup))
    home = tmp_path_factory.mktemp(f"axon-{request.param}")
    server = Axon(request.param, home, env).start()
    yield server
    server.stop()
    for step in reversed(cleanup):
        step()
