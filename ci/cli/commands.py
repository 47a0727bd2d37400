"""The `axon` command: run the server, worker and agent, and drive the API."""

from __future__ import annotations

import os
from typing import Any

import click

from ci.cli.client import deliveries, events, ops, projects, sources, subscriptions
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
def agent() -> None:
    """Watch the runner and turn what it sees into run statuses; sweep lost work."""
    from ci import runtime, wiring
    from ci.agent import process

    runtime.protect_process()
    process.run_forever(wiring.wire(runtime.init()))


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


for group in (projects, sources, subscriptions, ops, deliveries, events):
    main.add_command(group)
main.add_command(ops, name="runs")
for command in (*CLONING, *TRACKING):
    ops.add_command(command)
main.add_command(run)
main.add_command(check)
main.add_command(schema)
