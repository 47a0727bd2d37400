"""The README's settings tables, generated from the settings models.

`python -m ci.cli.settings_table` prints them; `--write README.md` puts each between its markers
(`<!-- settings:NAME -->` ... `<!-- /settings:NAME -->`); a test fails when the README drifts.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ci.config import Settings
from notifiers.registry import settings as notifier_settings
from runners.registry import settings as runner_settings
from schemas.settings import AxonSettings

HEADER = "| variable | default | meaning |\n|---|---|---|\n"
BLOCK = re.compile(
    r"(<!-- settings:(?P<name>[\w:-]+) -->\n)(?P<body>.*?)(<!-- /settings:(?P=name) -->)", re.S
)


def shown_default(default: Any) -> str:
    if default is None or default == "":
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def table(*models: type[AxonSettings]) -> str:
    """One row per variable of `models`, in their field order."""
    rows = []
    for model in models:
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            default = extra.get("shown") or shown_default(info.default)
            rows.append(f"| `{model.variable(name)}` | {default} | {info.description} |\n")
    return HEADER + "".join(rows)


def _unique(models: list[type[AxonSettings]]) -> list[type[AxonSettings]]:
    return [m for i, m in enumerate(models) if m not in models[:i] and m.model_fields]


def tables() -> dict[str, str]:
    """Each table by its marker name: the core's, each runner's, the report targets'."""
    found = {"core": table(Settings)}
    for name in runner_settings.names():
        model = runner_settings.load(name)
        if model.model_fields:
            found[f"runner:{name}"] = table(model)
    notifiers = _unique([notifier_settings.load(name) for name in notifier_settings.names()])
    found["notifiers"] = table(*notifiers)
    return found


def render(readme: str) -> str:
    """`readme` with every marked table replaced by the generated one."""
    generated = tables()

    def fill(match: re.Match[str]) -> str:
        body = generated.get(match["name"], match["body"])
        return f"{match[1]}{body}{match[4]}"

    return BLOCK.sub(fill, readme)


def marked(readme: str) -> dict[str, str]:
    """The tables `readme` holds, by marker name."""
    return {match["name"]: match["body"] for match in BLOCK.finditer(readme)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="README", help="update the tables in this file")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(render(path.read_text()))
        return
    for name, body in tables().items():
        print(f"<!-- settings:{name} -->\n{body}<!-- /settings:{name} -->\n")


if __name__ == "__main__":
    main()
