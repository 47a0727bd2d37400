"""`axon` commands that drive a running Axon through its REST API."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
import requests

from ci.cli.output import FORMATS, emit


def _url(path: str) -> str:
    return os.environ.get("AXON_URL", "http://127.0.0.1:8000").rstrip("/") + path


def call(method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if os.environ.get("AXON_API_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['AXON_API_TOKEN']}"
    try:
        response = requests.request(method, _url(path), headers=headers, timeout=30, **kwargs)
    except requests.ConnectionError as exc:
        raise click.ClickException(
            f"cannot reach Axon at {_url('')}: is `axon serve` running?"
        ) from exc
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            details = error.get("errors", [])
            lines = [error["message"]] if not details else [f"{len(details)} problem(s):"]
            lines += [
                f"  {e['path'] or '<top>'}: {e['reason']}"
                + (f" (line {e['line']})" if e.get("line") else "")
                for e in details
            ]
        except (ValueError, KeyError, TypeError):
            lines = [response.text.strip() or response.reason]
        if response.status_code == 401 and not os.environ.get("AXON_API_TOKEN"):
            lines.append(
                "AXON_API_TOKEN is not set: export the token `axon serve` printed on its first "
                "start, or one from `axon tokens create`"
            )
        raise click.ClickException("\n".join(lines))
    return response


def show(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group()
def projects() -> None:
    """Projects."""


@projects.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.option("--org", default=None, help="The organization it belongs to (default: default).")
def create_project(name: str, description: str, org: str | None) -> None:
    body = {"name": name, "description": description, **({"org": org} if org else {})}
    show(call("POST", "/api/v1/projects", json=body).json())


@projects.command("ls")
def list_projects() -> None:
    for project in call("GET", "/api/v1/projects").json():
        click.echo(project["name"])


@click.group()
def sources() -> None:
    """Webhook sources (where a forge sends its deliveries)."""


@sources.command("create")
@click.argument("project")
@click.argument("name")
@click.option("--provider", required=True, help="github, ...")
@click.option("--secret", envvar="AXON_SOURCE_SECRET", help="The webhook secret.")
@click.option("--connection", help="Or: a project connection whose value `secret` it is.")
def create_source(
    project: str, name: str, provider: str, secret: str | None, connection: str | None
) -> None:
    # Exactly one of them: the server refuses both or neither, naming the field.
    given = {"secret": secret, "connection": connection}
    body = {"name": name, "provider": provider, **{k: v for k, v in given.items() if v}}
    source = call("POST", f"/api/v1/projects/{project}/sources", json=body).json()
    show(source)
    click.echo(f"Point the {provider} webhook at {_url(source['url'])}", err=True)


@click.group()
def subscriptions() -> None:
    """Subscriptions: which events start which operation."""


@subscriptions.command("create")
@click.argument("project")
@click.option("-f", "--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
def create_subscription(project: str, path: str) -> None:
    data = Path(path).read_bytes()
    headers = {"Content-Type": "application/yaml"}
    show(
        call("POST", f"/api/v1/projects/{project}/subscriptions", data=data, headers=headers).json()
    )


@subscriptions.command("apply")
@click.argument("project")
@click.option("-f", "--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--prune", is_flag=True, help="Delete the project's subscriptions the file omits.")
def apply_subscriptions(project: str, path: str, prune: bool) -> None:
    """Make the project's subscriptions those of a file kept in its repository."""
    data = Path(path).read_bytes()
    headers = {"Content-Type": "application/yaml"}
    params = {"prune": "true"} if prune else {}
    outcome = call(
        "PUT",
        f"/api/v1/projects/{project}/subscriptions",
        data=data,
        headers=headers,
        params=params,
    ).json()
    for what, names in outcome.items():
        for name in names:
            click.echo(f"{what}\t{name}")


@subscriptions.command("ls")
@click.argument("project")
def list_subscriptions(project: str) -> None:
    for row in call("GET", f"/api/v1/projects/{project}/subscriptions").json():
        click.echo(f"{row['name']}\t{'paused' if row['paused'] else 'active'}")


@subscriptions.command("pause")
@click.argument("project")
@click.argument("name")
def pause(project: str, name: str) -> None:
    call("POST", f"/api/v1/projects/{project}/subscriptions/{name}/pause")


@subscriptions.command("resume")
@click.argument("project")
@click.argument("name")
def resume(project: str, name: str) -> None:
    call("POST", f"/api/v1/projects/{project}/subscriptions/{name}/resume")


@click.group()
def ops() -> None:
    """Runs (operations): list, inspect, follow logs, metrics, artifacts, compare, stop."""


@ops.command("ls")
@click.option("-p", "--project", default=None)
@click.option("--status", default=None)
@click.option("-q", "--query", default=None, help="As Polyaxon's: 'kind:job, metrics.loss:<0.3'.")
@click.option("-s", "--sort", default=None, help="Fields, '-' for descending: '-metrics.loss'.")
@click.option("-l", "--limit", type=int, default=None)
@click.option("--offset", type=int, default=None)
@click.option("--parent", default=None, help="The runs this run made: a search's trials.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default=None,
    help="table (aligned, with headers), json or yaml; default: one tab-separated line a run.",
)
def list_runs(
    project: str | None,
    status: str | None,
    query: str | None,
    sort: str | None,
    limit: int | None,
    offset: int | None,
    parent: str | None,
    output: str | None,
) -> None:
    """Runs, newest first; filter them with a query (see "Run queries" in the README). With
    --parent, each trial's params and its value of the search's metric.

    \b
    Example:
      axon ops ls -p vision -q "status:succeeded, metrics.loss:<0.3" -s metrics.loss -o table
    """
    given = {
        "project": project,
        "status": status,
        "query": query,
        "sort": sort,
        "limit": limit,
        "offset": offset,
        "parent": parent,
    }
    params = {k: v for k, v in given.items() if v is not None and v != ""}
    found = call("GET", "/api/v1/runs", params=params).json()
    if output is not None:
        emit(found, output, RUN_HEADERS, [run_row(run) for run in found])
        return
    for run in found:
        if parent:
            click.echo(trial_line(run))
        else:
            click.echo(f"{run['uuid']}\t{run['status']}\t{run['project']}/{run['name']}")


RUN_HEADERS = ("UUID", "STATUS", "KIND", "PROJECT", "NAME", "CREATED", "DURATION (S)")


def run_row(run: dict[str, Any]) -> tuple[Any, ...]:
    name = run.get("op_name") or run["name"]
    duration = run.get("duration")
    return (
        run["uuid"],
        run["status"],
        run["kind"],
        run["project"],
        name,
        (run.get("created_at") or "")[:19],
        None if duration is None else round(duration, 1),
    )


def trial_line(run: dict[str, Any]) -> str:
    """`<uuid>  succeeded  train#3  lr=0.01 depth=2  loss=0.12`: a trial, tab-separated."""
    given = run.get("params") or {}
    params = " ".join(f"{key}={value}" for key, value in given.items()) or "-"
    metric = run.get("metric") or {}
    value = metric.get("value")
    scored = f"{metric['name']}={'-' if value is None else value}" if metric else "-"
    name = run.get("op_name") or run["name"]
    return f"{run['uuid']}\t{run['status']}\t{name}\t{params}\t{scored}"


@ops.command("children")
@click.argument("uuid")
@click.option("-l", "--limit", type=int, default=None)
@click.option("--offset", type=int, default=None)
def list_children(uuid: str, limit: int | None, offset: int | None) -> None:
    """The runs a pipeline made (a dag's ops, a matrix's trials), oldest first.

    \b
    Example:
      axon ops children 3f2a9c... -l 100
    """
    params = {k: v for k, v in {"limit": limit, "offset": offset}.items() if v is not None}
    for run in call("GET", f"/api/v1/runs/{uuid}/children", params=params).json():
        name = run["op_name"] or run["name"]
        click.echo(f"{run['uuid']}\t{run['status']}\t{name}\t{run['kind']}")


@ops.command("get")
@click.argument("uuid")
@click.option("-o", "--output", type=click.Choice(FORMATS), default="json", show_default=True)
def get_run(uuid: str, output: str) -> None:
    """The run as JSON, with its parent (`parent`) and its first children (`children`); for a
    search, its best trial so far (`best`), also named on stderr.

    \b
    Example:
      axon ops get 3f2a9c... -o yaml
    """
    run = call("GET", f"/api/v1/runs/{uuid}").json()
    if output == "table":
        shown = ("uuid", "name", "project", "kind", "status", "created_at", "duration")
        fields = [(key, run.get(key)) for key in shown]
        fields += [(f"output.{key}", value) for key, value in (run.get("outputs") or {}).items()]
        emit(run, output, ("FIELD", "VALUE"), fields)
    else:
        emit(run, output, (), [])
    best = run.get("best")
    if best:
        which = f"trial #{best['trial']}" if best.get("trial") is not None else best["op_name"]
        given = ", ".join(f"{key}={value}" for key, value in (best.get("params") or {}).items())
        line = f"best: {which} {best['metric']}={best['value']}" + (f" ({given})" if given else "")
        click.echo(f"{line} {best['uuid']}", err=True)


@ops.command("logs")
@click.argument("uuid")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run is done.")
def logs(uuid: str, follow: bool) -> None:
    """A run's logs; with -f, followed as they grow until the run is done.

    \b
    Example:
      axon ops logs 3f2a9c... -f
    """
    shown: list[str] = []
    while True:
        response = call("GET", f"/api/v1/runs/{uuid}/logs")
        done = not follow or response.headers.get("X-Axon-Run-Done") == "true"
        lines = response.text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n") and not done:
            lines.pop()  # a line still being written: shown once it is whole
        fresh = unseen(shown, lines)
        sys.stdout.write("".join(fresh))
        sys.stdout.flush()
        shown += fresh
        if done:
            return
        time.sleep(1)


def unseen(shown: list[str], lines: list[str]) -> list[str]:
    """The lines of `lines` after those already shown.

    Usually the logs only grow. When a run ends its followed lines are replaced by the
    runner's complete copy, which may add lines (headers, init steps) among those shown:
    those belong to what was shown, and only what follows the last shown line is new.
    """
    matched = 0
    for index, line in enumerate(lines):
        if matched == len(shown):
            return lines[index:]
        if line == shown[matched]:
            matched += 1
    return []


@ops.command("stop")
@click.argument("uuid")
def stop_run(uuid: str) -> None:
    """Stop a run and, if it is a pipeline, its live children.

    \b
    Example:
      axon ops stop 3f2a9c...
    """
    run = call("POST", f"/api/v1/runs/{uuid}/stop").json()
    click.echo(f"{run['uuid']}\t{run['status']}")


@ops.command("approve")
@click.argument("uuid")
@click.option("--by", default=None, help="Who approves (default: your login name).")
def approve_run(uuid: str, by: str | None) -> None:
    """Let a run that waits for approval (isApproved: false) go.

    \b
    Example:
      axon ops approve 3f2a9c... --by alice
    """
    who = by or os.environ.get("USER") or "cli"
    run = call("POST", f"/api/v1/runs/{uuid}/approve", json={"by": who}).json()
    click.echo(f"{run['uuid']}\t{run['status']}\tapproved by {who}")
