"""`axon deliveries` and `axon events`: what webhooks brought, and why it started runs or not."""

from __future__ import annotations

import click

from ci.cli.client import call, show


@click.group()
def deliveries() -> None:
    """Webhook deliveries and why they did or did not start runs."""


@deliveries.command("ls")
@click.option("--status", default=None)
def list_deliveries(status: str | None) -> None:
    params = {"status": status} if status else {}
    for row in call("GET", "/api/v1/deliveries", params=params).json():
        click.echo(f"{row['id']}\t{row['status']}\t{row['event']}\t{row['reason']}")


@deliveries.command("get")
@click.argument("delivery_id", type=int)
def get_delivery(delivery_id: int) -> None:
    show(call("GET", f"/api/v1/deliveries/{delivery_id}").json())


@deliveries.command("redeliver")
@click.argument("delivery_id", type=int)
def redeliver(delivery_id: int) -> None:
    """Process a stored delivery again, as a new delivery."""
    copy = call("POST", f"/api/v1/deliveries/{delivery_id}/redeliver").json()
    click.echo(f"delivery {copy['id']} queued (a copy of {delivery_id})")


@click.group()
def events() -> None:
    """Why an event did or did not start anything."""


@events.command("explain")
@click.argument("delivery_id", type=int)
def explain(delivery_id: int) -> None:
    """Every subscription's decision on a delivery's events, with the reason of each check."""
    delivery = call("GET", f"/api/v1/deliveries/{delivery_id}").json()
    click.echo(
        f"delivery {delivery['id']} ({delivery['provider']} {delivery['event'] or '-'}, "
        f"{delivery['status']}): {delivery['reason']}"
    )
    shown_event = None
    for decision in delivery["decisions"]:
        event = decision["event"]
        if decision["event_index"] != shown_event:
            shown_event = decision["event_index"]
            sha = (event.get("sha") or "")[:7]
            click.echo(f"event {shown_event}: {event['kind']} {event['repo']} {event['ref']} {sha}")
        mark = "matched" if decision["matched"] else "no match"
        run = f" -> run {decision['run']}" if decision["run"] else ""
        click.echo(f"  {decision['subscription']}: {mark}{run}")
        for check in decision["checks"]:
            click.echo(f"    {'ok' if check['ok'] else 'NO'}  {check['check']}: {check['reason']}")
