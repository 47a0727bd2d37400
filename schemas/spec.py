"""Polyaxon 1.1 polyaxonfiles: the V1Component and V1Operation models and their loaders."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_snake

from schemas.errors import SpecError, SpecErrors
from schemas.spec_base import SpecModel, located_error, partial
from schemas.spec_dag import V1Dag
from schemas.spec_distributed import (
    REPLICA_OF,
    V1DaskCluster,
    V1DaskJob,
    V1MPIJob,
    V1PyTorchJob,
    V1RayCluster,
    V1RayJob,
    V1Spark,
    V1TFJob,
)
from schemas.spec_hooks import V1EventTrigger, V1Hook, V1Join
from schemas.spec_hp import HP_KINDS
from schemas.spec_io import V1IO, V1Param
from schemas.spec_load import located, read_document, validate
from schemas.spec_matrix import MATRIX_KINDS, V1Matrix
from schemas.spec_policies import (
    PatchStrategy,
    V1Build,
    V1Cache,
    V1Plugins,
    V1Termination,
)
from schemas.spec_run import RUN_KINDS, V1Job, V1Service
from schemas.spec_schedule import V1Schedule
from schemas.spec_source import Path, SourceMap

SPEC_VERSION = 1.1

__all__ = [
    "SPEC_VERSION",
    "V1IO",
    "V1Component",
    "V1Operation",
    "V1Param",
    "V1Run",
    "V1Termination",
    "dump_component",
    "dump_operation",
    "load_component",
    "load_operation",
]

V1Run = Annotated[
    V1Job
    | V1Service
    | V1Dag
    | V1TFJob
    | V1PyTorchJob
    | V1MPIJob
    | V1RayCluster
    | V1DaskCluster
    | V1RayJob
    | V1DaskJob
    | V1Spark,
    Field(discriminator="kind"),
]
RUN_MODELS: dict[str, type[SpecModel]] = {
    "job": V1Job, "service": V1Service, "dag": V1Dag, "tfjob": V1TFJob,
    "pytorchjob": V1PyTorchJob, "mpijob": V1MPIJob, "raycluster": V1RayCluster,
    "daskcluster": V1DaskCluster, "rayjob": V1RayJob, "daskjob": V1DaskJob, "spark": V1Spark,
}  # fmt: skip
# The `kind` values that name a member of a union rather than a key of the document.
UNION_TAGS = frozenset(
    {*RUN_KINDS, *MATRIX_KINDS, *HP_KINDS, "cron", "interval", "datetime", "median",
     "truncation", "diff", "metric_early_stopping", "failure_early_stopping"}
)  # fmt: skip
NAME = re.compile(r"^[-a-zA-Z0-9_]+$")


def _check_version(value: Any) -> Any:
    if value is None:
        return value
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, bool) and text in (SPEC_VERSION, str(SPEC_VERSION)):
        return SPEC_VERSION
    raise ValueError(f"unsupported version {value!r}; Axon reads version {SPEC_VERSION}")


SpecVersion = Annotated[float, BeforeValidator(_check_version, json_schema_input_type=float | str)]


class _Document(SpecModel):
    """What components and operations share; a top-level one remembers its source places."""

    _source: SourceMap | None = PrivateAttr(default=None)

    version: SpecVersion | None = None
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    presets: list[str] | None = None
    queue: str | None = None
    cache: V1Cache | None = None
    termination: V1Termination | None = None
    plugins: V1Plugins | None = None
    build: V1Build | None = None
    hooks: list[V1Hook] | None = None
    is_approved: bool | None = None
    cost: float | None = None

    @field_validator("name")
    @classmethod
    def _name_is_a_slug(cls, name: str | None) -> str | None:
        if name is not None and not NAME.match(name):
            raise ValueError(f"{name!r} is not a valid name: use letters, digits, - and _")
        return name

    def source_line(self, path: Path) -> int | None:
        """The line of `path` (camelCase keys) or of its closest ancestor; None if unknown."""
        return self.source_position(path)[0]

    def source_position(self, path: Path) -> tuple[int | None, int | None]:
        """(line, column) of `path` or of its closest ancestor; (None, None) if unknown."""
        return self._source.position(path) if self._source is not None else (None, None)

    @property
    def source(self) -> SourceMap:
        return self._source if self._source is not None else SourceMap()


class V1Component(_Document):
    """A reusable, typed unit of work: inputs, outputs and what to run."""

    kind: Literal["component"] = "component"
    inputs: list[V1IO] | None = None
    outputs: list[V1IO] | None = None
    run: V1Run

    @model_validator(mode="after")
    def _names_are_unique(self) -> Self:
        seen: set[str] = set()
        for section in ("inputs", "outputs"):
            for index, io in enumerate(getattr(self, section) or ()):
                if io.name in seen:
                    raise located_error((section, index, "name"), f"duplicate name {io.name!r}")
                seen.add(io.name)
        return self

    def io(self) -> dict[str, V1IO]:
        """Inputs and outputs by name: everything a param may give a value to."""
        return {io.name: io for io in [*(self.inputs or ()), *(self.outputs or ())]}


# Where an operation finds its component; exactly one is given (a preset may give none).
COMPONENT_SOURCES = ("hubRef", "dagRef", "pathRef", "urlRef", "component")


class V1Operation(_Document):
    """A component plus the params, patches, matrix, schedule and flow of one use of it."""

    kind: Literal["operation"] = "operation"
    params: dict[str, V1Param] | None = None
    hub_ref: str | None = None
    dag_ref: str | None = None
    path_ref: str | None = None
    url_ref: str | None = None
    component: V1Component | None = None
    run_patch: dict[str, Any] | None = None
    patch_strategy: PatchStrategy | None = None
    is_preset: bool | None = None
    matrix: V1Matrix | None = None
    schedule: V1Schedule | None = None
    events: list[V1EventTrigger] | None = None
    joins: list[V1Join] | None = None
    dependencies: list[str] | None = None
    trigger: (
        Literal[
            "all_succeeded", "all_failed", "all_done", "one_succeeded", "one_failed", "one_done"
        ]
        | None
    ) = None
    conditions: str | None = None
    skip_on_upstream_skip: bool | None = None

    @model_validator(mode="after")
    def _one_component_source(self, info: ValidationInfo) -> Self:
        given = [key for key in COMPONENT_SOURCES if getattr(self, to_snake(key)) is not None]
        choices = ", ".join(COMPONENT_SOURCES[:-1]) + " or component"
        if not given and not self.is_preset and not partial(info):
            raise located_error(("component",), f"one of {choices} is required")
        if len(given) > 1:
            found = " and ".join(given)
            raise located_error((given[1],), f"give only one of {choices}; found {found}")
        return self


V1Dag.model_rebuild(_types_namespace={"V1Operation": V1Operation, "V1Component": V1Component})
V1Component.model_rebuild()
V1Operation.model_rebuild()


def load_operation(
    source: str | bytes | dict[str, Any], filename: str = "<spec>", *, is_preset: bool = False
) -> V1Operation:
    """Parse and validate a `kind: operation` polyaxonfile; raises SpecErrors with every
    problem of the document, each with its path, line and column."""
    op = _load(V1Operation, source, filename, "operation", {"partial": True} if is_preset else None)
    assert isinstance(op, V1Operation)
    return op


def load_component(source: str | bytes | dict[str, Any], filename: str = "<spec>") -> V1Component:
    """Parse and validate a `kind: component` polyaxonfile; raises located SpecErrors."""
    component = _load(V1Component, source, filename, "component", None)
    assert isinstance(component, V1Component)
    return component


def _load(
    model: type[_Document],
    source: str | bytes | dict[str, Any],
    filename: str,
    kind: str,
    context: dict[str, Any] | None,
) -> _Document:
    data, lines = read_document(source, filename)
    found = data.get("kind")
    if found is not None and found != kind:
        # Validating the rest against the wrong model would only bury this one mistake.
        reason = f"expected kind {kind!r}, got {found!r}"
        raise SpecErrors([located(("kind",), reason, lines)])
    required = [key for key in ("version", "kind") if key not in data]
    errors = [located((key,), "field required", lines) for key in required]
    document, problems = validate(model, data, lines, context=context)
    errors += problems + run_patch_errors(data, lines)
    if errors or document is None:
        raise SpecErrors(_in_order(errors))
    document._source = lines
    return document


def _in_order(errors: list[SpecError]) -> list[SpecError]:
    unique = {(e.path, e.reason): e for e in errors}
    return sorted(unique.values(), key=lambda e: (e.line or 0, e.column or 0, e.path))


def run_patch_errors(
    data: Any, lines: SourceMap, at: Path = (), root: Any = None
) -> list[SpecError]:
    """Every runPatch of the document (top level and dag operations) checked against the kind
    of the run it patches, when that run is in the document."""
    if not isinstance(data, dict):
        return []
    root = data if root is None else root
    component = data.get("component")
    run = component.get("run") if isinstance(component, dict) else None
    if not isinstance(run, dict):
        return []
    errors = _patch_errors(data, run.get("kind"), lines, at, root)
    shared = {c.get("name"): c for c in run.get("components") or () if isinstance(c, dict)}
    operations = run.get("operations")
    for index, child in enumerate(operations if isinstance(operations, list) else ()):
        where = (*at, "component", "run", "operations", index)
        errors += run_patch_errors(child, lines, where, root)
        ref = shared.get(child.get("dagRef")) if isinstance(child, dict) else None
        ref_run = ref.get("run") if isinstance(ref, dict) else None
        if isinstance(ref_run, dict):
            errors += _patch_errors(child, ref_run.get("kind"), lines, where, root)
    return errors


def _patch_errors(
    data: dict[str, Any], kind: Any, lines: SourceMap, at: Path, root: Any
) -> list[SpecError]:
    key = "runPatch" if "runPatch" in data else "run_patch"
    patch = data.get(key)
    if not isinstance(patch, dict) or kind not in RUN_MODELS:
        return []
    if patch.get("kind", kind) != kind:
        reason = f"a runPatch cannot change the run kind from {kind!r} to {patch['kind']!r}"
        return [located((*at, key, "kind"), reason, lines)]
    partial = {"partial": True}
    data = {**patch, "kind": kind}
    _, errors = validate(
        RUN_MODELS[kind], data, lines, at=(*at, key), document=root, context=partial
    )
    if errors and kind in REPLICA_OF:
        _, as_replica = validate(REPLICA_OF[kind], patch, lines, context=partial)
        errors = errors if as_replica else []
    return errors


def dump_operation(op: V1Operation) -> str:
    """The operation as YAML, camelCase keys, without unset values (parses back equal)."""
    return _dump(op)


def dump_component(component: V1Component) -> str:
    """The component as YAML, camelCase keys, without unset values (parses back equal)."""
    return _dump(component)


def _dump(document: _Document) -> str:
    data = document.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
