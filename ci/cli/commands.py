"""The `axon` command: run the server, worker and agent, and drive the API."""

from __future__ import annotations

import os
from typing import Any

import click

from ci.cli import identity
from ci.cli.client import ops, projects, sources, subscriptions
from ci.cli.connections import connections
from ci.cli.deliveries import deliveries, events
from ci.cli.ops_tracking import TRACKING
from ci.cli.running import CLONING, run
from ci.cli.spec import check, schema
from schemas.settings import SettingsError


class AxonGroup(click.Group):
    """Every command reports a bad setting as one line naming its variable, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=AxonGroup)
@click.version_option("0.1.0", prog_name="axon")
def main() -> None:
    """Axon: events in, ML runs out, reports back."""


@main.command()
@click.option("--host", default=None, help="Address to bind (AXON_HOST, default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (AXON_PORT, default 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the API and webhooks; embedded mode also runs the worker and the agent."""
    from ci import runtime, wiring
    from ci.api.access import MissingApiToken, require_api_token
    from ci.app import create_app
    from ci.config import Settings
    from ci.embedded import Server
    from ci.identity import bootstrap
    from ci.store import migrate

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings.from_env(**overrides)
    try:
        require_api_token(settings, "axon serve", settings.host)
    except MissingApiToken as exc:
        raise click.ClickException(str(exc)) from exc
    runtime.protect_process()
    rt = wiring.wire(runtime.init(settings))
    migrate.upgrade(rt.db.engine)
    token = bootstrap.first_admin(rt) if settings.embedded else None
    if token:
        click.echo(
            f"First start: made the admin user {bootstrap.FIRST_ADMIN!r}. Every request now "
            f"needs a token; this one is shown only now (the axon command reads it from the "
            f"environment, and the pages' login at /login takes it):"
            f"\n\n    export AXON_API_TOKEN={token}\n"
        )
    mode = "embedded: SQLite-ready, in-process worker, local runner" if settings.embedded else "API"
    click.echo(f"Axon ({mode}) serving on http://{settings.host}:{settings.port}")
    Server(lambda: create_app(settings), settings.host, settings.port, settings.embedded).run()


@main.command()
@click.option("--concurrency", "-c", default=2, type=int, help="Worker processes.")
def worker(concurrency: int) -> None:
    """Run a Celery worker on AXON_BROKER_URL."""
    from ci import runtime, wiring

    runtime.protect_process()
    rt = wiring.wire(runtime.init())
    # A node name per process: two workers on one host must not share a control queue.
    node = f"axon-{os.getpid()}@%h"
    argv = ["worker", "--loglevel", "INFO", "-Q", rt.settings.queue, "-n", node]
    runtime.celery.worker_main(argv + ["-c", str(concurrency), "--without-gossip"])


@main.command()
@click.option(
    "--runner",
    "runner_name",
    default=None,
    help="Watch only this runner configuration (AXON_RUNNER or an AXON_RUNNERS name).",
)
def agent(runner_name: str | None) -> None:
    """Watch the runners and turn what they see into run statuses; sweep lost work."""
    from ci import runtime, wiring
    from ci.agent import process
    from ci.runs import routing

    runtime.protect_process()
    rt = wiring.wire(runtime.init())
    known = routing.names(rt.settings)
    if runner_name is not None and runner_name not in known:
        raise click.BadParameter(
            f"no runner configuration {runner_name!r}; known: {', '.join(known)}",
            param_hint="--runner",
        )
    process.run_forever(rt, runner_name)


@main.command()
def scheduler() -> None:
    """Fire the subscriptions' schedules, each slot exactly once (several may run)."""
    import threading

    from ci import runtime, wiring
    from ci.schedules import firing

    runtime.protect_process()
    firing.run_forever(wiring.wire(runtime.init()), threading.Event())


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply migrations to AXON_DATABASE_URL."""
    from ci import runtime
    from ci.store import migrate

    migrate.upgrade(runtime.init().db.engine)
    click.echo("database is up to date")


@connections.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt connections' and sources' secrets with the first key of AXON_SECRETS_KEY."""
    from ci import runtime
    from ci.connections import rotation
    from ci.connections.crypto import SecretsKeyError

    try:
        count = rotation.rotate(runtime.init())
    except SecretsKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"re-encrypted {count} connection(s) and source(s) with the newest key")


for group in (projects, sources, subscriptions, connections, ops, deliveries, events):
    main.add_command(group)
main.add_command(ops, name="runs")
for command in (*CLONING, *TRACKING):
    ops.add_command(command)
main.add_command(run)
for group in identity.GROUPS:
    main.add_command(group)
main.add_command(identity.audit)
main.add_command(check)
main.add_command(schema)
