"""`axon connections`: a project's connections through the REST API (`rotate-key`, which works
on the database itself, is with the process commands in `commands`)."""

from __future__ import annotations

from pathlib import Path

import click

from ci.cli.client import call, show
from ci.cli.output import emit, output_option


@click.group()
def connections() -> None:
    """Connections: credentials and settings runs mount by name (`connections:`)."""


def _pairs(given: tuple[str, ...], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected NAME=VALUE, got {key or item!r}", param_hint=option)
        pairs[key] = value
    return pairs


@connections.command("create")
@click.argument("project")
@click.argument("name")
@click.option("--kind", required=True, help="git, s3, gcs, wasb, registry, slack, secret, ...")
@click.option("--schema", "schema", multiple=True, help="A plain setting: FIELD=VALUE.")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="A secret value: NAME=VALUE (a command line is seen by `ps`: prefer --secret-file).",
)
@click.option("--secret-file", "secret_files", multiple=True, help="NAME=PATH: a file's content.")
@click.option("--mount-path", default="", help="Mount the secret values as files here.")
@click.option("--env", "env", multiple=True, help="VARIABLE=NAME: a secret value as a variable.")
def create(
    project: str,
    name: str,
    kind: str,
    schema: tuple[str, ...],
    secrets: tuple[str, ...],
    secret_files: tuple[str, ...],
    mount_path: str,
    env: tuple[str, ...],
) -> None:
    values = _pairs(secrets, "--secret")
    for key, path in _pairs(secret_files, "--secret-file").items():
        try:
            values[key] = Path(path).read_text()
        except OSError as exc:
            raise click.BadParameter(f"{key}: {exc.strerror}", param_hint="--secret-file") from None
    document = {
        "name": name,
        "kind": kind,
        "schema": _pairs(schema, "--schema"),
        "secret": values,
        "mount_path": mount_path,
        "env": _pairs(env, "--env"),
    }
    show(call("POST", f"/api/v1/projects/{project}/connections", json=document).json())


@connections.command("ls")
@click.argument("project")
@output_option()
def list_connections(project: str, output: str) -> None:
    rows = call("GET", f"/api/v1/projects/{project}/connections").json()
    table = [
        (r["name"], r["kind"], ",".join(r["secret_keys"]), r["mount_path"] or "env") for r in rows
    ]
    emit(rows, output, ("NAME", "KIND", "SECRET KEYS", "MOUNTED"), table)


@connections.command("rm")
@click.argument("project")
@click.argument("name")
def remove(project: str, name: str) -> None:
    call("DELETE", f"/api/v1/projects/{project}/connections/{name}")
    click.echo(f"deleted connection {name}")
