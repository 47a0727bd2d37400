"""`axon run` (a run from a polyaxonfile, as `polyaxon run`) and `axon ops restart|resume|copy`.

With `--watch` the command follows the run to its end: each status as the run reaches it, its
logs (a pipeline: one line per op's status instead), and exits with how it ended: 0 succeeded,
1 failed or upstream_failed, 2 nothing was started (a usage, spec or project error, or Axon
unreachable), 3 stopped or skipped.
"""

from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path
from typing import Any

import click
import yaml

from ci.cli.client import call, unseen
from ci.cli.spec import files_option, params_option
from ci.runs.kinds import CONTROLLERS

EXIT_CODES = {"succeeded": 0, "failed": 1, "upstream_failed": 1, "stopped": 3, "skipped": 3}
NOT_STARTED = 2

_watch_option = click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="Follow statuses and logs to the end; exit with how it ended.",
)
# How often --watch asks; tests ask more often.
_interval_option = click.option("--poll-interval", type=float, default=1.0, hidden=True)


class NotStarted(click.ClickException):
    """Axon refused the request, or could not be reached: no run was started."""

    exit_code = NOT_STARTED


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """`-P name=value` pairs as a mapping; a value is read as YAML, as `axon check` reads it."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected name=value", param_hint="-P")
        try:
            params[name.strip()] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise click.BadParameter(f"{item!r}: {exc}", param_hint="-P") from None
    return params


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="-f") from None


def _post(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST that starts something; a refusal means nothing was started (exit code 2)."""
    try:
        answer: dict[str, Any] = call("POST", path, json=body).json()
    except click.ClickException as exc:
        raise NotStarted(exc.message) from None
    return answer


@click.command("run")
@files_option
@params_option
@click.option("--project", "-p", required=True, envvar="AXON_PROJECT", help="The project.")
@click.option("--name", default=None, help="The run's name (default: the operation's).")
@_watch_option
@_interval_option
def run(
    files: tuple[str, ...],
    params: tuple[str, ...],
    project: str,
    name: str | None,
    watch: bool,
    poll_interval: float,
) -> None:
    """Start a run from a polyaxonfile; print its uuid and URL."""
    body = {
        "content": _read(files[0]),
        "presets": [_read(path) for path in files[1:]],
        "params": parse_params(params),
        "name": name,
        "actor": getpass.getuser(),
    }
    created = _post(f"/api/v1/projects/{project}/runs", body)
    _started(created, watch, poll_interval)


def _clone_command(kind: str, doc: str) -> click.Command:
    @click.command(kind, help=doc)
    @click.argument("uuid")
    @params_option
    @_watch_option
    @_interval_option
    def command(uuid: str, params: tuple[str, ...], watch: bool, poll_interval: float) -> None:
        body = {"params": parse_params(params), "actor": getpass.getuser()}
        _started(_post(f"/api/v1/runs/{uuid}/{kind}", body), watch, poll_interval)

    return command


restart = _clone_command("restart", "Start a new run of a run's operation (changed params: -P).")
resume = _clone_command("resume", "Continue a finished run as itself, keeping its artifacts.")
copy = _clone_command("copy", "Restart a run in a new run whose artifacts start as its copy.")
CLONING = (restart, resume, copy)


def _started(run: dict[str, Any], watch: bool, poll_interval: float) -> None:
    click.echo(run["uuid"])
    click.echo(run["url"])
    if watch:
        status = follow(run["uuid"], poll_interval)
        sys.exit(EXIT_CODES.get(status, 1))


def follow(uuid: str, poll_interval: float = 1.0) -> str:
    """Print the run's statuses and logs (a pipeline's: its ops' statuses) until it is done;
    its final status."""
    shown_conditions = 0
    shown_logs: list[str] = []
    ops: dict[str, str] = {}
    while True:
        run = call("GET", f"/api/v1/runs/{uuid}").json()
        for condition in run["conditions"][shown_conditions:]:
            why = ": ".join(filter(None, (condition["reason"], condition["message"])))
            click.echo(f"[{condition['status']}] {why}".rstrip())
        shown_conditions = len(run["conditions"])
        done = run["status"] in EXIT_CODES
        if run["kind"] in CONTROLLERS:
            _ops_changed(uuid, ops)
        else:
            shown_logs += _new_logs(uuid, shown_logs, done)
        if done:
            return str(run["status"])
        time.sleep(poll_interval)


def _ops_changed(uuid: str, ops: dict[str, str]) -> None:
    """One line for each op of a pipeline (each trial of a matrix) whose status changed."""
    children = call("GET", f"/api/v1/runs/{uuid}/children", params={"limit": 500}).json()
    for child in children:
        op = str(child.get("op_name") or child.get("name") or child["uuid"])
        if ops.get(op) != child["status"]:
            ops[op] = str(child["status"])
            click.echo(f"  {op}: {ops[op]}")


def _new_logs(uuid: str, shown: list[str], done: bool) -> list[str]:
    lines = call("GET", f"/api/v1/runs/{uuid}/logs").text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n") and not done:
        lines.pop()  # a line still being written: shown once it is whole
    fresh = unseen(shown, lines)
    sys.stdout.write("".join(fresh))
    sys.stdout.flush()
    return fresh
