"""A dag's graph: who waits for whom, whether that makes sense, and in what order ops start.

An operation's upstreams are its `dependencies`, the ops its params (and its build's) read
(`ref: ops.X`, or Polyaxon's template spelling `"{{ ops.X.outputs.y }}"`) and the ops its events
watch (`ref: ops.X`). Every op needs a unique name; a `dagRef` names one of the dag's
components; an upstream must be another op of the same dag; the graph has no cycle. An op's
component may lack its container until the op's presets and runPatch give it; what none of them
gives is an error. Nested dags (an op whose inline component is a dag) are checked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ci.compile.patching import dump, patch, patch_run
from schemas.errors import SpecError
from schemas.spec import V1Operation
from schemas.spec_dag import V1Dag
from schemas.spec_io import V1Param
from schemas.spec_load import located
from schemas.spec_source import Path, SourceMap, format_path

# The replicas of the Kubeflow kinds, each a pod with its own main container.
_REPLICAS = {
    "tfjob": ("chief", "ps", "worker", "evaluator"),
    "pytorchjob": ("master", "worker"),
    "mpijob": ("launcher", "worker"),
}
_TEMPLATE_REF = re.compile(r"\{\{\s*ops\.([-a-zA-Z0-9_]+)\.")


def upstreams(op: V1Operation) -> dict[str, str]:
    """Each upstream op of `op` and the field that makes it one (first mention wins). An op
    that builds its image reads `ops.build` as that build's, not as a sibling's, and waits
    for what its build's params read too."""
    found: dict[str, str] = {}
    for name in op.dependencies or ():
        found.setdefault(name, "dependencies")
    build = op.build or (op.component.build if op.component is not None else None)
    own = {"build"} if build is not None else set()
    params: list[tuple[tuple[str, ...], Mapping[str, V1Param], set[str]]]
    params = [(("params",), op.params or {}, own)]
    if build is not None:
        params.append((("build", "params"), build.params or {}, set()))
    for at, given, skipped in params:
        for param_name, param in given.items():
            where = ".".join((*at, param_name))
            if param.upstream and param.upstream not in skipped:
                found.setdefault(param.upstream, f"{where}.ref")
            elif isinstance(param.value, str):
                for name in _TEMPLATE_REF.findall(param.value):
                    if name not in skipped:
                        found.setdefault(name, f"{where}.value")
    for index, event in enumerate(op.events or ()):
        if event.upstream:
            found.setdefault(event.upstream, f"events[{index}].ref")
    return found


def dag_errors(dag: V1Dag, at: Path, lines: SourceMap) -> list[SpecError]:
    """Every problem of the dag's graph (and of nested dags), located in the document;
    `at` is where the dag's `run` section sits (e.g. ("component", "run"))."""
    errors = _name_errors(dag, at, lines)
    names = {op.name for op in dag.operations if op.name}
    for index, op in enumerate(dag.operations):
        where = (*at, "operations", index)
        if op.dag_ref is not None and dag.component_named(op.dag_ref) is None:
            known = ", ".join(sorted({c.name for c in dag.components or () if c.name})) or "none"
            reason = f"no component named {op.dag_ref!r} in this dag; components: {known}"
            errors.append(located((*where, "dagRef"), reason, lines))
        for name, field in upstreams(op).items():
            if name == op.name:
                errors.append(located(_field(where, field), "an op cannot wait for itself", lines))
            elif name not in names:
                reason = f"no op named {name!r} in this dag"
                errors.append(located(_field(where, field), reason, lines))
        if op.component is not None and isinstance(op.component.run, V1Dag):
            errors += dag_errors(op.component.run, (*where, "component", "run"), lines)
    errors += _cycle_errors(dag, at, lines)
    return errors


def completion_errors(
    dag: V1Dag, at: Path, lines: SourceMap, presets: Mapping[str, V1Operation]
) -> list[SpecError]:
    """A "field required" for each container (or image) that an op's component lacks and that
    neither its presets nor its runPatch give (nested dags too); an unknown preset is left to
    the op's own compilation."""
    errors: list[SpecError] = []
    for index, op in enumerate(dag.operations):
        where: Path = (*at, "operations", index)
        if op.component is not None and isinstance(op.component.run, V1Dag):
            nested = (*where, "component", "run")
            errors += completion_errors(op.component.run, nested, lines, presets)
            continue
        shared = dag.component_named(op.dag_ref) if op.dag_ref else None
        component = op.component or shared
        if component is None:
            continue
        data = dump(op)
        data["component"] = dump(component)
        for name in [*(op.presets or ()), *(component.presets or ())]:
            if name in presets:
                preset = presets[name]
                changes = {k: v for k, v in dump(preset).items() if k not in ("kind", "version")}
                data = patch(data, changes, preset.patch_strategy or "post_merge")
        run = data["component"]["run"]
        if data.get("runPatch"):
            run = patch_run(run, data["runPatch"], data.get("patchStrategy") or "post_merge")
        base = (*where, "component", "run") if op.component is not None else (*where, "dagRef")
        for missing in _missing(run):
            if op.component is None:
                reason = (
                    f"component {op.dag_ref!r} has no {format_path(missing)}, and neither "
                    "a preset nor the op's runPatch gives one"
                )
                errors.append(located(base, reason, lines))
            else:
                reason = "field required: give it in the component, a preset or the op's runPatch"
                errors.append(located((*base, *missing), reason, lines))
    return errors


def _missing(run: dict[str, Any]) -> list[Path]:
    """Where a run (or each replica of a distributed run) lacks its container or image."""
    kind = run.get("kind")
    if kind in ("job", "service"):
        pods: list[tuple[Path, Any]] = [((), run)]
    elif kind in _REPLICAS:
        pods = [((name,), run[name]) for name in _REPLICAS[kind] if isinstance(run.get(name), dict)]
    else:
        return []
    found: list[Path] = []
    for at, pod in pods:
        container = pod.get("container")
        if not isinstance(container, dict):
            found.append((*at, "container"))
        elif not container.get("image"):
            found.append((*at, "container", "image"))
    return found


def _field(where: Path, field: str) -> Path:
    parts: list[str | int] = []
    for part in field.replace("[", ".").replace("]", "").split("."):
        parts.append(int(part) if part.isascii() and part.isdigit() else part)
    return (*where, *parts)


def _name_errors(dag: V1Dag, at: Path, lines: SourceMap) -> list[SpecError]:
    errors: list[SpecError] = []
    seen: set[str] = set()
    for index, op in enumerate(dag.operations):
        where = (*at, "operations", index)
        if not op.name:
            errors.append(located(where, "an op of a dag needs a name", lines))
        elif op.name in seen:
            errors.append(located((*where, "name"), f"duplicate op name {op.name!r}", lines))
        seen.add(op.name or "")
    shared: set[str] = set()
    for index, component in enumerate(dag.components or ()):
        where = (*at, "components", index)
        if not component.name:
            errors.append(located(where, "a component of a dag needs a name", lines))
        elif component.name in shared:
            reason = f"duplicate component name {component.name!r}"
            errors.append(located((*where, "name"), reason, lines))
        shared.add(component.name or "")
    return errors


def _graph(dag: V1Dag) -> dict[str, list[str]]:
    """op name → the names of its upstreams that are ops of this dag, in document order."""
    names = [op.name for op in dag.operations if op.name]
    return {
        op.name: [up for up in upstreams(op) if up in names and up != op.name]
        for op in dag.operations
        if op.name
    }


def _cycle_errors(dag: V1Dag, at: Path, lines: SourceMap) -> list[SpecError]:
    index_of = {op.name: i for i, op in enumerate(dag.operations) if op.name}
    errors = []
    for cycle in cycles(_graph(dag)):
        where = (*at, "operations", index_of[cycle[0]])
        chain = " -> ".join([*cycle, cycle[0]])
        errors.append(located(where, f"dependency cycle: {chain} (each waits for the next)", lines))
    return errors


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each cycle once, as its ops from the first in `graph` order, each waiting for the next."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for up in graph.get(node, ()):
            if state.get(up) == 1:
                cycle = path[path.index(up) :]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    start = min(cycle, key=list(graph).index)
                    turn = cycle.index(start)
                    found.append(cycle[turn:] + cycle[:turn])
            elif up not in state:
                visit(up, path)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    return found


def levels(dag: V1Dag) -> list[list[str]]:
    """The ops in waves: each wave's ops wait only for ops of earlier waves (document order
    within a wave). Raises ValueError on a cycle."""
    graph = _graph(dag)
    done: set[str] = set()
    waves: list[list[str]] = []
    while len(done) < len(graph):
        wave = [name for name, ups in graph.items() if name not in done and set(ups) <= done]
        if not wave:
            raise ValueError(f"the dag has a cycle among {sorted(set(graph) - done)}")
        waves.append(wave)
        done.update(wave)
    return waves


def order(dag: V1Dag) -> Iterator[str]:
    """The ops one by one in a topological order."""
    for wave in levels(dag):
        yield from wave
