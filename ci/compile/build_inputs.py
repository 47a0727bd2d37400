"""What an op's build pipeline carries in from outside it: the params that read the op's dag.

A build turns an op into a dag of its own (`ci.compile.builds`), whose ops cannot see the dag
the op is in: its siblings (`ops.prepare`), its inputs (`dag`) or other runs (`runs.UUID`).
Every param of the op or of its build that reads one of those, by `ref:` or in a template,
becomes an input of that pipeline instead: the pipeline's op reads it when it compiles (its
upstreams have ended), and the op inside reads it back as `{ref: dag, value: inputs.<name>}`.
So a value is read once, where it was written, and never rendered again. Only `ops.build`, the
image the build pushed, is the pipeline's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from schemas.errors import SpecError
from schemas.sandbox import sandbox
from schemas.spec import V1Component
from schemas.spec_io import V1IO, V1Param, is_template
from schemas.spec_load import located
from schemas.spec_source import Path, SourceMap

OUTSIDE = ("ops", "dag", "runs")
# What a dag input keeps of the input or output it stands for: what types and checks a value.
_TYPING = {"name", "type", "is_list", "is_optional", "validation", "options", "delay_validation"}
_ENV = sandbox()


@dataclass
class Carried:
    """The pipeline's inputs and the params that fill them, and each param rewritten to read
    its input back; `errors` are (path, reason) pairs."""

    inputs: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[Path, str]] = field(default_factory=list)

    def carry(
        self,
        params: Mapping[str, V1Param] | None,
        own: str | None,
        typed_by: Mapping[str, V1IO],
        prefix: str = "",
    ) -> dict[str, dict[str, Any]]:
        """`params` dumped, each one that reads outside the pipeline reading its input
        instead. `own` is the op of the pipeline a param may read as its own (`ops.<own>`), if any;
        `typed_by` declares each input's type; `prefix` names the inputs apart."""
        kept: dict[str, dict[str, Any]] = {}
        for name, param in (params or {}).items():
            dumped = param.model_dump(mode="json", by_alias=True, exclude_none=True)
            read, inside = reads(param), {f"ops.{own}"} if own else set()
            if not read - inside:
                kept[name] = dumped
                continue
            if read & inside:
                why = (
                    f"reads both ops.{own} (the image its build pushed, known inside the op's "
                    "pipeline) and its dag's values (known before it): give them as two params"
                )
                self.errors.append((("params", name), why))
                continue
            carried = f"{prefix}{name}"
            io = typed_by.get(name)
            typing = io.model_dump(by_alias=True, exclude_none=True, include=_TYPING) if io else {}
            self.inputs.append({"isOptional": True, **typing, "name": carried})
            self.params[carried] = {k: v for k, v in dumped.items() if k in ("ref", "value")}
            rest = {k: v for k, v in dumped.items() if k not in ("ref", "value")}
            kept[name] = {**rest, "ref": "dag", "value": f"inputs.{carried}"}
        return kept


def declared(component: V1Component) -> dict[str, V1IO]:
    """The component's inputs and outputs by name: what a param of it is typed by."""
    return {io.name: io for io in [*(component.inputs or ()), *(component.outputs or ())]}


def reads(param: V1Param) -> set[str]:
    """What outside its own run `param` reads: `ops.<name>`, `dag`, `runs` (or `ops`, when
    which op cannot be told)."""
    if param.ref is not None:
        return {"runs" if param.ref.startswith("runs.") else param.ref}
    return template_reads(param.value)


def template_reads(value: Any) -> set[str]:
    """What the templates in `value` (a string, or a list or mapping of them) read of `ops`,
    `dag` and `runs`. A template that does not parse counts as reading them: where it was
    written is where its error is reported."""
    if isinstance(value, Mapping):
        return set().union(*(template_reads(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(template_reads(v) for v in value))
    if not is_template(value):
        return set()
    try:
        tree = _ENV.parse(value)
    except TemplateSyntaxError:
        return set(OUTSIDE)
    names = [n.name for n in tree.find_all(nodes.Name) if n.name in OUTSIDE]
    found = {name for name in names if name != "ops"}
    by_attribute = [
        n.attr
        for n in tree.find_all(nodes.Getattr)
        if isinstance(n.node, nodes.Name) and n.node.name == "ops"
    ]
    found.update(f"ops.{name}" for name in by_attribute)
    if names.count("ops") > len(by_attribute):  # `ops["x"]`, a loop over ops: which is unknown
        found.add("ops")
    return found


def run_reads(run: Any, at: Path, own: str) -> list[tuple[Path, str]]:
    """Where a component's dumped `run` section reads outside the pipeline (anything but
    `ops.<own>`): its op's dag reaches it through params only."""
    if isinstance(run, Mapping):
        return [found for k, v in run.items() for found in run_reads(v, (*at, k), own)]
    if isinstance(run, list):
        return [found for i, v in enumerate(run) for found in run_reads(v, (*at, i), own)]
    outside = sorted(template_reads(run) - {f"ops.{own}"})
    if not outside:
        return []
    why = (
        f"reads {', '.join(outside)}, which the op's build pipeline cannot see: give the "
        "value to the op as a param, which reads its dag when the op compiles"
    )
    return [(at, why)]


def relocated(errors: list[SpecError], prefix: str, source: SourceMap) -> list[SpecError]:
    """The pipeline's errors about the params it carried, where they were written: its
    `params.<prefix><name>` is the build's `build.params.<name>`, any other `params.<name>`
    the op's own (found in its `source`)."""
    found: list[SpecError] = []
    for error in errors:
        head, _, rest = error.path.partition(".")
        if head != "params" or error.line is not None or not rest:
            found.append(error)
            continue
        where: Path = ("params", *rest.split("."))
        if rest.startswith(prefix):
            where = ("build", "params", *rest[len(prefix) :].split("."))
        found.append(located(where, error.reason, source))
    return found
