"""`axon ops` commands for daily work with what jobs reported: artifacts, metrics, compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from ci.cli.client import call
from ci.cli.output import emit, output_option


@click.command("artifacts")
@click.argument("uuid")
@click.option(
    "--download",
    "target",
    type=click.Path(file_okay=False),
    default=None,
    help="Download them into this directory (their paths kept).",
)
@click.option("--path", "only", default=None, help="Only this artifact, or those below it.")
@output_option()
def artifacts(uuid: str, target: str | None, only: str | None, output: str) -> None:
    """A run's artifacts (its uploads, models, outputs directory, kept logs); download them.

    \b
    Example:
      axon ops artifacts 3f2a9c... --download ./run-files --path models
    """
    found = call("GET", f"/api/v1/runs/{uuid}/artifacts").json()
    if only:
        prefix = only.rstrip("/")
        found = [a for a in found if a["path"] == prefix or a["path"].startswith(prefix + "/")]
    if target is None:
        emit(found, output, ("PATH", "SIZE"), [(a["path"], a["size"]) for a in found])
        return
    root = Path(target).resolve()
    for artifact in found:
        local = (root / artifact["path"]).resolve()
        if root not in local.parents:
            raise click.ClickException(f"artifact {artifact['path']!r} would land outside {root}")
        local.parent.mkdir(parents=True, exist_ok=True)
        url = f"/api/v1/runs/{uuid}/artifacts/{quote(artifact['path'])}"
        response = call("GET", url, stream=True)
        with local.open("wb") as out:
            for block in response.iter_content(1024 * 1024):
                out.write(block)
        click.echo(f"{artifact['path']}\t{artifact['size']}\t{local}")


@click.command("metrics")
@click.argument("uuid")
@click.option("-n", "--name", "names", multiple=True, help="A metric's series (repeatable).")
@click.option("--system", is_flag=True, help="The job's CPU, memory and GPU samples instead.")
@click.option("--points", type=int, default=None, help="At most this many points a series.")
@output_option()
def metrics(
    uuid: str, names: tuple[str, ...], system: bool, points: int | None, output: str
) -> None:
    """A run's metrics: each one's last value, or with --name its series (long ones cut to
    --points, keeping each stretch's lowest and highest value).

    \b
    Example:
      axon ops metrics 3f2a9c...                # every metric's last step and value
      axon ops metrics 3f2a9c... --name loss    # the loss at each step
    """
    params: dict[str, Any] = {"name": list(names)}
    if points is not None:
        params["points"] = points
    kind = "system" if system else "metrics"
    data = call("GET", f"/api/v1/runs/{uuid}/{kind}", params=params).json()
    if not names:
        summary = [(n, s["count"], s["step"], s["value"]) for n, s in data.items()]
        emit(data, output, ("NAME", "POINTS", "LAST STEP", "LAST VALUE"), summary)
        return
    rows: list[tuple[Any, ...]] = []
    for found in data:
        steps, values = found["steps"], found["values"]
        rows += [(found["name"], step, value) for step, value in zip(steps, values, strict=True)]
    emit(data, output, ("NAME", "STEP", "VALUE"), rows)


@click.command("compare")
@click.argument("uuids", nargs=-1, required=True)
@output_option()
def compare(uuids: tuple[str, ...], output: str) -> None:
    """Runs side by side: status, params (inputs), metrics and outputs, tags.

    \b
    Example:
      axon ops compare 3f2a9c... 81bb07... 0c44de...
    """
    found = [call("GET", f"/api/v1/runs/{uuid}/tracking").json() for uuid in uuids]
    runs = [call("GET", f"/api/v1/runs/{uuid}").json() for uuid in uuids]
    headers = ("", *(f"{r['name']} ({r['uuid'][:8]})" for r in runs))
    rows: list[tuple[Any, ...]] = [("status", *(r["status"] for r in runs))]
    for field, label in (("inputs", "param"), ("outputs", "output")):
        keys = sorted({key for t in found for key in t[field]})
        rows += [(f"{label}.{key}", *(t[field].get(key) for t in found)) for key in keys]
    rows.append(("tags", *(", ".join(t["tags"]) or None for t in found)))
    data = [
        {"uuid": r["uuid"], "status": r["status"], **t} for r, t in zip(runs, found, strict=True)
    ]
    emit(data, output, headers, rows)


TRACKING = (artifacts, metrics, compare)
