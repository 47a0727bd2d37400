"""`axon check` (validate and compile a polyaxonfile, or list every problem) and `axon schema`."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from ci import matrix as matrices
from ci.compiler import CompiledRun, compile_matrix, compile_operation
from schemas.errors import SpecError, SpecErrors
from schemas.event import Event, PullRequest
from schemas.spec import SPEC_VERSION, V1Operation, load_component, load_operation
from schemas.spec_io import V1Param
from schemas.spec_schema import json_schema
from schemas.spec_source import SourceMap

GLOBALS = (
    "uuid", "name", "project_name", "owner_name", "run_outputs_path", "run_artifacts_path",
    "artifacts_path", "created_at", "schedule_at", "ports", "base_url",
)  # fmt: skip
_EVENT_FIELDS = {f.name for f in dataclasses.fields(Event)} - {"raw"}
_PR_FIELDS = {f.name for f in dataclasses.fields(PullRequest)}


class Placeholder:
    """A value `axon check` does not know yet (an event field, a global): it renders as the
    template that names it, so the compiled result shows where it goes and it is not type-checked.
    `fields`, when given, lists the attributes it has: a misspelt `event.shaa` is still an error."""

    def __init__(self, name: str, fields: dict[str, Any] | None = None) -> None:
        self._label, self._fields = name, fields

    def _child(self, key: str) -> Placeholder:
        if self._fields is not None and key not in self._fields:
            raise KeyError(key)
        nested = self._fields.get(key) if self._fields is not None else None
        return Placeholder(f"{self._label}.{key}", nested)

    def __getattr__(self, key: str) -> Placeholder:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._child(key)
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: Any) -> Placeholder:
        if isinstance(key, str):
            return self._child(key)
        if isinstance(key, slice):
            start, stop = ("" if k is None else k for k in (key.start, key.stop))
            return Placeholder(f"{self._label}[{start}:{stop}]")
        return Placeholder(f"{self._label}[{key!r}]")

    def __iter__(self) -> Iterator[Placeholder]:
        return iter([Placeholder(f"{self._label}[0]")])

    def __str__(self) -> str:
        return "{{ %s }}" % self._label  # noqa: UP031


def placeholder_context() -> tuple[dict[str, Any], dict[str, Any]]:
    """(context, globals) for compiling without an event or a run."""
    fields: dict[str, Any] = dict.fromkeys(_EVENT_FIELDS)
    fields["pull_request"] = dict.fromkeys(_PR_FIELDS)
    context = {"event": Placeholder("event", fields)}
    return context, {name: Placeholder(f"globals.{name}") for name in GLOBALS}


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None


def _top_key(text: bytes, key: str) -> Any:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data.get(key) if isinstance(data, dict) else None


def _is_component(text: bytes) -> bool:
    return _top_key(text, "kind") == "component"


def _load(path: str, *, is_preset: bool = False) -> V1Operation:
    """An operation from a file; a component file runs as an operation with no params."""
    return load_text(_read(path), path, is_preset=is_preset)


def load_text(text: bytes, path: str, *, is_preset: bool = False) -> V1Operation:
    """An operation from a document; a component runs as an operation with no params."""
    if not _is_component(text) or is_preset:
        preset = is_preset or _top_key(text, "isPreset") is True
        return load_operation(text, path, is_preset=preset)
    component = load_component(text, path)
    op = V1Operation(version=SPEC_VERSION, component=component)
    source = component.source
    op._source = SourceMap(
        source.filename,
        {("component", *p): line for p, line in source.lines.items()},
        {("component", *p): column for p, column in source.columns.items()},
    )
    return op


def _with_params(op: V1Operation, params: tuple[str, ...]) -> V1Operation:
    given = dict(op.params or {})
    for item in params:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected name=value", param_hint="-P")
        value = yaml.safe_load(text) if text.strip() else ""
        previous = given.get(name.strip())
        update = {"value": value, "ref": None}
        given[name.strip()] = (
            previous.model_copy(update=update) if previous else V1Param(value=value)
        )
    return op.model_copy(update={"params": given}) if params else op


def _presets(directory: str | None) -> dict[str, V1Operation]:
    if directory is None:
        return {}
    found = {}
    for path in sorted(Path(directory).glob("*.y*ml")):
        preset = _load(str(path), is_preset=True)
        found[preset.name or path.stem] = preset
    return found


def _run(compiled: CompiledRun) -> dict[str, Any]:
    shown = {
        "name": compiled.name, "kind": compiled.kind, "iteration": compiled.iteration,
        "image": compiled.image, "command": compiled.command, "env": compiled.env,
        "timeout": compiled.timeout, "maxRetries": compiled.max_retries, "queue": compiled.queue,
        "params": compiled.params, "plan": compiled.plan,
    }  # fmt: skip
    return {key: value for key, value in shown.items() if value not in (None, {}, [], "")}


def check_file(path: str, **options: Any) -> list[CompiledRun]:
    """What `axon check` does with a file; see `check_operation`."""
    return check_operation(_load(path), **options)


def compiled_run(compiled: CompiledRun) -> dict[str, Any]:
    """A compiled run as `axon check` and the API show it."""
    return _run(compiled)


def check_operation(
    op: V1Operation,
    *,
    params: tuple[str, ...] = (),
    preset_files: tuple[str, ...] = (),
    presets_dir: str | None = None,
    seed: int | None = None,
    **options: Any,
) -> list[CompiledRun]:
    """What `axon check` does: load, apply presets and params, compile every run with
    placeholders for the event and the globals; SpecErrors lists every problem."""
    op = _with_params(op, params)
    if op.is_preset:
        return []  # a preset only patches operations: loading it checked all there is
    context, globals_ = placeholder_context()
    common = {
        "context": context,
        "globals_": globals_,
        "delay_templates": True,
        "overrides": [_load(f, is_preset=True) for f in preset_files],
        "presets": _presets(presets_dir),
        **options,
    }
    if op.matrix is None or op.matrix.kind in matrices.EXPANDABLE:
        return compile_matrix(op, seed=seed, **common)
    # A search that picks runs from results is checked on one run drawn from its space.
    values = matrices.draw_one(op.matrix, seed)
    return [compile_operation(op, matrix_values=values, iteration=0, **common)]


def _problems(errors: list[SpecError], filename: str, component: bool) -> str:
    lines = []
    for error in sorted(errors, key=lambda e: (e.line or 0, e.column or 0, e.path)):
        where = f"{filename}:{error.line}:{error.column}" if error.line else filename
        path = error.path.removeprefix("component.") if component else error.path
        lines.append(f"{where}: {path or '<root>'}: {error.reason}")
    count = len(errors)
    lines.append(f"{count} problem{'s' if count != 1 else ''} in {filename}")
    return "\n".join(lines)


@click.command("check")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    required=True,
    metavar="FILE",
    help="The polyaxonfile; more -f files are presets applied over it, in order.",
)
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A param value (read as YAML: 0.1 is a float, [1, 2] a list).",
)
@click.option("--hub-dir", envvar="AXON_HUB_DIR", help="Where hubRef components are found.")
@click.option("--presets-dir", help="Where the presets an operation names are found.")
@click.option("--allow-url-refs", is_flag=True, help="Fetch urlRef components over http(s).")
@click.option("--seed", type=int, default=None, help="Seed of a random matrix (default 0).")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml")
def check(
    files: tuple[str, ...],
    params: tuple[str, ...],
    hub_dir: str | None,
    presets_dir: str | None,
    allow_url_refs: bool,
    seed: int | None,
    output: str,
) -> None:
    """Validate a polyaxonfile and print what it compiles to, or every problem it has."""
    main = files[0]
    component = _is_component(_read(main))
    try:
        runs = check_file(
            main,
            params=params,
            preset_files=files[1:],
            presets_dir=presets_dir,
            seed=seed,
            hub_dir=hub_dir,
            allow_url_refs=allow_url_refs,
        )
    except SpecErrors as exc:
        click.echo(_problems(exc.errors, main, component), err=True)
        sys.exit(1)
    except SpecError as exc:
        click.echo(_problems([exc], main, component), err=True)
        sys.exit(1)
    except (click.ClickException, click.exceptions.Exit):
        raise
    except Exception as exc:  # `axon check` reports, it does not crash: say what broke.
        click.echo(f"{main}: cannot check: {type(exc).__name__}: {exc}", err=True)
        sys.exit(2)
    result = {"file": main, "runs": [_run(run) for run in runs]}
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(yaml.safe_dump(result, sort_keys=False, allow_unicode=True), nl=False)


@click.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of polyaxonfiles, for editors."""
    text = json.dumps(json_schema(), indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


COMMANDS = (check, schema)
