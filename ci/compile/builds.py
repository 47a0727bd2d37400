"""An operation's `build:` (Polyaxon's V1Build) as a two-op pipeline: build, then run on it.

The operation compiles to a dag controller with two ops: `build`, the builder component its
`hubRef` names (the built-in `kaniko`, else a component of the hub), and the operation itself,
which depends on `build` and runs on the image the builder produced (`{{ ops.build.outputs.image
}}`). Waiting, `upstream_failed` when the build fails, stopping and reports are the pipeline
engine's. The build's `connection` (a registry connection, its secret mounted where the builder
reads its credentials), `queue`, `presets`, `cache`, `params`, `runPatch` and `patchStrategy`
are the build op's; so is each connection a param names (Polyaxon's `V1Param.connection`), such
as `context: {connection: repo}`, a git connection whose GIT_USERNAME and GIT_PASSWORD (or
GIT_TOKEN) let kaniko clone a private repository. Only names reach the spec: the values are
opened at launch and reach the builder from the run's Secret. Inside a dag, what the op and its
build read of that dag becomes inputs of the pipeline (`ci.compile.build_inputs`).

The built-in `kaniko` builds the Dockerfile of the commit the event names (kaniko's git
context `git://host/owner/repo.git#ref#sha`) and pushes it to the `destination` param; kaniko
writes the image's digest to the container's termination message, which the Kubernetes runner
records as the build's output `image` (`<destination>@<digest>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ci.compile import build_inputs
from schemas.errors import SpecErrors
from schemas.spec import V1Build, V1Component, V1Operation
from schemas.spec_load import located

BUILD_OP = "build"
# A build param that reads the op's dag is the pipeline's input `build:<name>`.
CARRIED_BUILD_PARAM = f"{BUILD_OP}:"
BUILT_IMAGE = "{{ ops.%s.outputs.image }}" % BUILD_OP  # noqa: UP031
KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
# Where the destination's registry credentials go: kaniko reads `<here>/config.json`.
KANIKO_DOCKER_CONFIG = "/kaniko/.docker"
# The run kinds whose main container is `run.container`: the image the build replaces.
BUILDS_FOR = ("job", "service")

KANIKO: dict[str, Any] = {
    "version": 1.1,
    "kind": "component",
    "name": "kaniko",
    "inputs": [
        {"name": "context", "type": "str"},
        {"name": "dockerfile", "type": "str", "value": "Dockerfile", "isOptional": True},
        {"name": "destination", "type": "str"},
    ],
    "outputs": [{"name": "image", "type": "str", "isOptional": True}],
    "run": {
        "kind": "job",
        "container": {
            "image": KANIKO_IMAGE,
            "args": [
                "--context={{ context }}",
                "--dockerfile={{ dockerfile }}",
                "--destination={{ destination }}",
                # The digest comes back as the container's termination message.
                "--digest-file=/dev/termination-log",
            ],
        },
    },
}

_KANIKO_IO = build_inputs.declared(V1Component.model_validate(KANIKO, context={}))


def build_of(op: V1Operation, component: V1Component) -> V1Build | None:
    """The build `op` asks for: its own, else its component's."""
    return op.build or component.build


def as_pipeline(op: V1Operation, component: V1Component, build: V1Build, event: Any) -> V1Operation:
    """`op` (whose resolved, patched component is `component`) as a dag: the build, then `op`
    on the built image. `event` is the run's event (a mapping), or what stands for one not
    known yet (`axon check`). SpecErrors name what cannot be built."""
    if not isinstance(event, Mapping):  # checked without an event: its commit is not known
        event = None
    carried = build_inputs.Carried()
    params = carried.carry(op.params, BUILD_OP, build_inputs.declared(component))
    typed_by = _KANIKO_IO if _is_kaniko(build.hub_ref) else {}  # a hub builder's: known inside
    builder = carried.carry(build.params, None, typed_by, CARRIED_BUILD_PARAM)
    errors = _refusals(op, component, build, event) + carried.errors
    if errors:
        raise SpecErrors([located(path, why, op.source) for path, why in errors])
    name = op.name or component.name or "main"
    if name == BUILD_OP:
        name = f"{BUILD_OP}-main"
    main = component.model_dump(mode="json", by_alias=True, exclude_none=True)
    main.pop("build", None)
    main["run"]["container"]["image"] = BUILT_IMAGE
    main_op: dict[str, Any] = {"name": name, "component": main, "dependencies": [BUILD_OP]}
    if params:  # a join's are filled by now; conditions were judged on the whole run
        main_op["params"] = params
    dag: dict[str, Any] = {
        "version": 1.1,
        "kind": "component",
        "name": component.name or name,
        "run": {"kind": "dag", "operations": [_build_op(build, builder, event), main_op]},
    }
    pipeline: dict[str, Any] = {"version": 1.1, "kind": "operation", "name": op.name}
    if carried.inputs:  # read here, where the op's dag is known; read back inside as `dag`
        dag["inputs"] = carried.inputs
        pipeline["params"] = carried.params
    return V1Operation.model_validate({**pipeline, "component": dag}, context={})


def _build_op(
    build: V1Build, params: dict[str, Any], event: Mapping[str, Any] | None
) -> dict[str, Any]:
    data = build.model_dump(mode="json", by_alias=True, exclude_none=True)
    if build.params is not None:
        data["params"] = params
    hub_ref = data.pop("hubRef")
    connection = data.pop("connection", None)
    op: dict[str, Any] = {"name": BUILD_OP, **data}
    if _is_kaniko(hub_ref):
        op["component"] = KANIKO
        given = op.get("params") or {}
        context = kaniko_context(event or {})
        if "value" not in given.get("context", {}) and context:
            op["params"] = {**given, "context": {**given.get("context", {}), "value": context}}
    else:
        op["hubRef"] = hub_ref
    params = op.get("params") or {}
    named = [p["connection"] for p in params.values() if p.get("connection")]
    if named:  # carried out below as the build op's connections, not left for its compile
        kept = {k: {f: v for f, v in p.items() if f != "connection"} for k, p in params.items()}
        op["params"] = {k: p for k, p in kept.items() if p}
    connections = list(dict.fromkeys(filter(None, [connection, *named])))
    if connections:
        patch = dict(op.get("runPatch") or {})
        patch["connections"] = list(dict.fromkeys([*patch.get("connections", ()), *connections]))
        op["runPatch"] = patch
    return op


def _refusals(
    op: V1Operation, component: V1Component, build: V1Build, event: Mapping[str, Any] | None
) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    if op.matrix is not None:
        why = "a build runs once for one image; a matrix's trials cannot share one yet"
        found.append((("matrix",), f"{why}: build the image in its own operation"))
    kind = component.run.kind
    if kind not in BUILDS_FOR:
        why = f"a {kind} has no single container the built image can replace"
        found.append((("build",), f"{why}; a build is for {' or '.join(BUILDS_FOR)}"))
    run = component.model_dump(mode="json", by_alias=True, exclude_none=True)["run"]
    found += build_inputs.run_reads(run, ("component", "run"), BUILD_OP)
    if _is_kaniko(build.hub_ref):
        params = build.params or {}
        if "destination" not in params:
            why = "required by kaniko: the image to push, e.g. registry.example.com/team/app:tag"
            found.append((("build", "params", "destination"), why))
        given = params["context"].value if "context" in params else None
        if given is None and event is not None and not kaniko_context(event):
            why = "required: the run's event names no pushed commit to build"
            found.append((("build", "params", "context"), why))
    return found


def is_build_pipeline(component: Mapping[str, Any]) -> bool:
    """Whether a compiled component (a dict) is the pipeline of a build: an op of its dag runs
    on the image its `build` op produces."""
    run = component.get("run") or {}
    if run.get("kind") != "dag":
        return False
    for op in run.get("operations") or ():
        container = ((op.get("component") or {}).get("run") or {}).get("container") or {}
        if container.get("image") == BUILT_IMAGE:
            return True
    return False


def kaniko_context(event: Mapping[str, Any]) -> str:
    """kaniko's git context for the event's commit (`git://host/path.git#ref#sha`), or ""."""
    url, sha = str(event.get("clone_url") or ""), str(event.get("sha") or "")
    if not url or not sha:
        return ""
    _, _, rest = url.partition("://")
    return f"git://{rest or url}#{event.get('ref') or ''}#{sha}"


def _is_kaniko(hub_ref: str) -> bool:
    return hub_ref.partition(":")[0] == "kaniko"
