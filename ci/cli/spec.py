"""`axon check` (validate and compile a polyaxonfile, or list every problem) and `axon schema`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from ci.cli import check_presets
from ci.cli.check_presets import ServerPresets
from ci.compile import matrix as matrices
from ci.compile.compiler import CompiledRun, compile_matrix, compile_operation
from ci.compile.placeholders import placeholder_context
from ci.intake.documents import json_schema as subscription_schema
from schemas.errors import SpecError, SpecErrors
from schemas.spec import (
    COMPONENT_SOURCES,
    SPEC_VERSION,
    V1Operation,
    load_component,
    load_operation,
)
from schemas.spec_io import V1Param
from schemas.spec_load import read_document
from schemas.spec_schema import json_schema
from schemas.spec_source import Path as SpecPath
from schemas.spec_source import SourceMap, format_path


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
    """What `axon check` does with a file; see `check_operation`. A file with structural
    errors is also compiled without the parts at fault, so that the type and param errors
    of the rest come in the same SpecErrors."""
    text = _read(path)
    try:
        op = load_text(text, path)
    except SpecErrors as exc:
        raise SpecErrors(exc.errors + later_errors(text, path, exc.errors, options)) from None
    return check_operation(op, **options)


def compiled_run(compiled: CompiledRun) -> dict[str, Any]:
    """A compiled run as `axon check` and the API show it."""
    return _run(compiled)


def check_operation(
    op: V1Operation,
    *,
    params: tuple[str, ...] = (),
    preset_files: tuple[str, ...] = (),
    presets_dir: str | None = None,
    server_presets: ServerPresets | None = None,
    seed: int | None = None,
    **options: Any,
) -> list[CompiledRun]:
    """What `axon check` does: load, apply presets and params, compile every run with
    placeholders for the event and the globals; SpecErrors lists every problem. What Axon
    does not carry out yet goes to `warnings` (a list, when given) instead. With
    `server_presets` (a project's, from the server), presets are looked up and applied as a
    run of that project applies them: the files first, then the defaults, then those named;
    a name in `presets_dir` stands for the server's of the same name."""
    op = _with_params(op, params)
    if op.is_preset:
        return []  # a preset only patches operations: loading it checked all there is
    context, globals_ = placeholder_context()
    common = {
        "context": context,
        "globals_": globals_,
        "delay_templates": True,
        "warnings": [],
        "overrides": [_load(f, is_preset=True) for f in preset_files],
        "presets": _presets(presets_dir),
        **options,
    }
    if server_presets is not None:
        common["overrides"] += server_presets.defaults
        common["presets"] = {**server_presets.named, **common["presets"]}
        common["presets_known"] = True
    try:
        if op.matrix is None or op.matrix.kind in matrices.EXPANDABLE:
            return compile_matrix(op, seed=seed, **common)
        # A search that picks runs from results is checked on one run drawn from its space.
        values = matrices.draw_one(op.matrix, seed)
        return [compile_operation(op, matrix_values=values, iteration=0, **common)]
    except SpecErrors as exc:
        raise SpecErrors([_from_command_line(e, params) for e in exc.errors]) from None


def _from_command_line(error: SpecError, params: tuple[str, ...]) -> SpecError:
    """An error about a value given with -P says so, rather than point into the file."""
    for item in params:
        name = item.partition("=")[0].strip()
        if error.path == f"params.{name}" or error.path.startswith(f"params.{name}."):
            return SpecError(error.path, f"{error.reason} (from -P {item})")
    return error


def later_errors(
    text: bytes, path: str, errors: list[SpecError], options: dict[str, Any]
) -> list[SpecError]:
    """The errors compiling finds in a document that did not load, once the places of
    `errors` are cut out of it; none that a cut place could have caused."""
    try:
        data, lines = read_document(text, path)
    except SpecErrors:
        return []
    places = {format_path(place): place for place in lines.lines}
    if any(places.get(e.path) in [(key,) for key in COMPONENT_SOURCES] for e in errors):
        return []  # which component runs is in doubt: what it would find is guesswork
    cut: list[SpecPath] = []
    data.setdefault("version", SPEC_VERSION)
    for _ in range(3):  # a cut may reveal a check that runs only on a valid part
        known = {places[e.path] for e in errors if e.path in places and places[e.path]}
        # Deepest and last first, so that a cut never moves a place still to be cut.
        for place in sorted(known, key=_order, reverse=True):
            cut += _params_of(data, place)
            _cut(data, place)
            cut.append(place)
        try:
            op = load_text(yaml.safe_dump(data).encode(), path)
        except SpecErrors as exc:
            errors = exc.errors
            continue
        component = data.get("kind") == "component"
        op._source = _prefixed(lines, ("component",)) if component else lines
        if component:
            cut = [place if place[0] == "params" else ("component", *place) for place in cut]
        try:
            check_operation(op, **options)
        except SpecErrors as exc:
            return [e for e in exc.errors if not _related(e.path, cut)]
        return []
    return []


def _params_of(data: Any, place: SpecPath) -> list[SpecPath]:
    """The param of the input or output declared where `place` is, if any: a cut there may
    change what that param must be."""
    for index, part in enumerate(place[:-1]):
        if part in ("inputs", "outputs") and isinstance(place[index + 1], int):
            node = data
            try:
                for step in place[: index + 2]:
                    node = node[step]
            except (KeyError, IndexError, TypeError):
                return []
            name = node.get("name") if isinstance(node, dict) else None
            return [("params", name)] if isinstance(name, str) else []
    return []


def _order(place: SpecPath) -> tuple[tuple[bool, Any], ...]:
    return tuple((isinstance(part, str), part) for part in place)


def _cut(data: Any, place: SpecPath) -> None:
    node = data
    for part in place[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return  # an earlier cut took it with its parent
    if isinstance(node, dict):
        node.pop(place[-1], None)
    elif isinstance(node, list) and isinstance(place[-1], int) and place[-1] < len(node):
        del node[place[-1]]


def _related(path: str, cut: list[SpecPath]) -> bool:
    """Whether `path` is a cut place, inside one, or holds one."""
    for place in cut:
        text = format_path(place)
        for a, b in ((path, text), (text, path)):
            if a == b or b.startswith(a + ".") or b.startswith(a + "["):
                return True
    return False


def _prefixed(source: SourceMap, prefix: SpecPath) -> SourceMap:
    return SourceMap(
        source.filename,
        {(*prefix, *p): line for p, line in source.lines.items()},
        {(*prefix, *p): column for p, column in source.columns.items()},
    )


def _warnings(warnings: list[SpecError], filename: str, component: bool) -> list[str]:
    """One line per use of what Axon does not carry out yet (once, however many runs)."""
    unique = {(w.path, w.reason): w for w in warnings}.values()
    lines = []
    for warning in sorted(unique, key=lambda w: (w.line or 0, w.column or 0, w.path)):
        where = f"{filename}:{warning.line}:{warning.column}" if warning.line else filename
        path = warning.path.removeprefix("component.") if component else warning.path
        lines.append(f"{where}: warning: {path}: {warning.reason}")
    return lines


def _problems(errors: list[SpecError], filename: str, component: bool) -> str:
    lines = []
    for error in sorted(errors, key=lambda e: (e.line or 0, e.column or 0, e.path)):
        where = f"{filename}:{error.line}:{error.column}" if error.line else filename
        path = error.path.removeprefix("component.") if component else error.path
        lines.append(f"{where}: {path or '<root>'}: {error.reason}")
    count = len(errors)
    lines.append(f"{count} problem{'s' if count != 1 else ''} in {filename}")
    return "\n".join(lines)


# `axon check` and `axon run` read a polyaxonfile the same way.
files_option = click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    required=True,
    metavar="FILE",
    help="The polyaxonfile; more -f files are presets applied over it, in order.",
)

params_option = click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A param value (read as YAML: 0.1 is a float, [1, 2] a list).",
)


@click.command("check")
@files_option
@params_option
@click.option("--hub-dir", envvar="AXON_HUB_DIR", help="Where hubRef components are found.")
@click.option("--presets-dir", help="Where the presets an operation names are found.")
@click.option(
    "--project",
    "-p",
    help="Check as a run of this project: its presets (and its org's) from the server.",
)
@click.option("--allow-url-refs", is_flag=True, help="Fetch urlRef components over http(s).")
@click.option("--seed", type=int, default=None, help="Seed of a random matrix (default 0).")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml")
def check(
    files: tuple[str, ...],
    params: tuple[str, ...],
    hub_dir: str | None,
    presets_dir: str | None,
    project: str | None,
    allow_url_refs: bool,
    seed: int | None,
    output: str,
) -> None:
    """Validate a polyaxonfile and print what it compiles to, or every problem it has."""
    main = files[0]
    component = _is_component(_read(main))
    warnings: list[SpecError] = []
    # Fetched before checking: a server that cannot answer is a usage error, not a spec's.
    server_presets = check_presets.fetch(project) if project else None
    try:
        runs = check_file(
            main,
            params=params,
            preset_files=files[1:],
            presets_dir=presets_dir,
            server_presets=server_presets,
            seed=seed,
            hub_dir=hub_dir,
            allow_url_refs=allow_url_refs,
            warnings=warnings,
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
    for line in _warnings(warnings, main, component):
        click.echo(line, err=True)
    result = {"file": main, "runs": [_run(run) for run in runs]}
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(yaml.safe_dump(result, sort_keys=False, allow_unicode=True), nl=False)


@click.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
@click.option(
    "--subscription", is_flag=True, help="The schema of subscription files instead (`on:`, ...)."
)
def schema(output: str | None, subscription: bool) -> None:
    """Print the JSON Schema of polyaxonfiles (or of subscription files), for editors."""
    text = json.dumps(subscription_schema() if subscription else json_schema(), indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


COMMANDS = (check, schema)
