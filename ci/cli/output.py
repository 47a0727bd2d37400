"""How `axon` commands print what they read: an aligned table for people, JSON or YAML for
scripts (`-o table|json|yaml`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
import yaml

FORMATS = ("table", "json", "yaml")
WIDEST = 60  # a cell longer than this is cut, in a table only


def output_option(default: str = "table") -> Any:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        help="table for people; json or yaml (everything the API answered) for scripts.",
    )


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    text = str(value).replace("\t", " ").replace("\n", " ")
    return text if len(text) <= WIDEST else text[: WIDEST - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    shown = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in shown)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *shown]
    ]
    return "\n".join(lines)


def emit(data: Any, output: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """`data` as JSON or YAML, or `rows` under `headers` as a table."""
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
    else:
        click.echo(table(headers, rows))
