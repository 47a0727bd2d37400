"""Which run kinds a runner can run; a kind it cannot run is refused, never run as another.

A dag, a matrix and a schedule controller are the core's own runs and run with any runner.
Everything else (`run.kind`: job, service, tfjob, ...) must be in the runner's `kinds`. The
refusal names the runner that would run it, so it is checked where users can act on it: when a
subscription or a run is created, and again at compile time as the last guard before a runner.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ci.compile.refs import resolve_component
from runners.registry import KINDS, runners
from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_operation

Place = tuple[str | int, ...]
REFERENCES = ("hubRef", "pathRef", "dagRef", "urlRef")

CONTROLLERS = frozenset({"dag", "matrix", "schedule"})


def refusal(runner_name: str, run_kind: str) -> str | None:
    """Why `runner_name` cannot run a `run_kind` run, or None when it can."""
    if run_kind in CONTROLLERS or run_kind in KINDS.get(runner_name, frozenset({run_kind})):
        return None
    others = [name for name, kinds in sorted(KINDS.items()) if run_kind in kinds]
    article = "an" if run_kind[:1] in "aeiou" else "a"
    why = f"{article} {run_kind} cannot run on the {runner_name} runner"
    if not others:
        return f"{why}: no runner runs {run_kind}"
    other = others[0]
    return (
        f"{why}: set AXON_RUNNER={other} "
        f"(the {other} runner runs {', '.join(sorted(KINDS[other]))})"
    )


# The runners that build an image (`build:`, ci.compile.builds): the builder runs in a pod.
BUILDERS = frozenset({"kubernetes"})


def build_refusal(runner_name: str, operation: dict[str, Any]) -> str | None:
    """Why `runner_name` cannot carry out the operation's `build:` (its own, or its inline
    component's), or None when it can or there is none."""
    component = operation.get("component")
    inline = component.get("build") if isinstance(component, dict) else None
    if runner_name in BUILDERS or not (operation.get("build") or inline):
        return None
    others = ", ".join(sorted(BUILDERS))
    return (
        f"the {runner_name} runner cannot build images: a build runs its builder (kaniko) in a "
        f"pod; set AXON_RUNNER={others} (the {others} runner builds)"
    )


def field_refusal(runner_name: str, run_kind: str, component: dict[str, Any]) -> str | None:
    """Why `runner_name` cannot run `component` (compiled) as written: each field it would
    have to ignore, with its path (the runner's `unsupported`); None when it can."""
    if run_kind in CONTROLLERS or runner_name not in runners:
        return None
    found = runners.load(runner_name).unsupported(component)
    return "; ".join(f"{path}: {why}" for path, why in found) or None


def dotted(path: Place) -> str:
    """("operation", "run", "operations", 1) → `operation.run.operations[1]`."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def operation_refusals(
    runner_name: str, operation: dict[str, Any], refs: Mapping[str, Any] | None = None
) -> list[tuple[Place, str]]:
    """(path, reason) for what `operation` (a subscription's) would run that `runner_name`
    cannot: its inline component, or with `refs` (ci.compile.refs.ref_options) the component
    a hubRef or pathRef names, read from disk only (never fetched). A reference that cannot be
    followed is left to the run's compile, which names the problem."""
    build = build_refusal(runner_name, operation)
    if build is not None:
        where = "build" if operation.get("build") else "component.build"
        return [(("operation", *where.split(".")), build)]
    component = operation.get("component")
    if isinstance(component, dict):
        return refusals(runner_name, component, ("operation", "component"))
    key = next((k for k in REFERENCES if operation.get(k)), None)
    if refs is None or key is None:
        return []
    try:
        op = load_operation(operation)
        resolved = resolve_component(op, **{**refs, "allow_url_refs": False, "fetch": None})
    except (SpecError, SpecErrors):
        return []
    found = refusals(runner_name, resolved.model_dump(mode="json", by_alias=True), ())
    return [(("operation", key), f"its component's {dotted(at)}: {why}") for at, why in found]


def refusals(runner_name: str, component: dict[str, Any], at: Place) -> list[tuple[Place, str]]:
    """(path of `run.kind`, reason) for `component` (a component document as a dict) and for
    each inline op of its dag, nested dags included; `at` is the component's own path."""
    return list(_walk(runner_name, component, at))


def _walk(runner_name: str, component: dict[str, Any], at: Place) -> Iterator[tuple[Place, str]]:
    run = component.get("run")
    if not isinstance(run, dict):
        return
    kind = str(run.get("kind") or "job")
    why = refusal(runner_name, kind)
    if why:
        yield (*at, "run", "kind"), why
    if kind != "dag":
        return
    for index, op in enumerate(run.get("operations") or ()):
        inner = op.get("component") if isinstance(op, dict) else None
        if isinstance(inner, dict):
            yield from _walk(runner_name, inner, (*at, "run", "operations", index, "component"))
    # The components a dag's ops name with dagRef.
    for index, inner in enumerate(run.get("components") or ()):
        if isinstance(inner, dict):
            yield from _walk(runner_name, inner, (*at, "run", "components", index))
