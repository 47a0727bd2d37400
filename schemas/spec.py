"""Polyaxon 1.1 polyaxonfiles: the V1Component and V1Operation models and their loaders."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BeforeValidator, PrivateAttr, ValidationError, model_validator
from pydantic.alias_generators import to_snake

from schemas.errors import SpecError, SpecErrors
from schemas.spec_base import LOCATED_ERROR, SpecModel, located_error
from schemas.spec_io import V1IO, V1Param
from schemas.spec_run import POLYAXON_RUN_KINDS, V1Run
from schemas.spec_source import Path, SourceMap, format_path, load_source

SPEC_VERSION = 1.1

__all__ = [
    "SPEC_VERSION",
    "V1IO",
    "V1Component",
    "V1Operation",
    "V1Param",
    "V1Termination",
    "load_component",
    "load_operation",
]


def _check_version(value: Any) -> Any:
    if value is None:
        return value
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, bool) and text in (SPEC_VERSION, str(SPEC_VERSION)):
        return SPEC_VERSION
    raise ValueError(f"unsupported version {value!r}; Axon reads version {SPEC_VERSION}")


SpecVersion = Annotated[float, BeforeValidator(_check_version)]


_Doc = TypeVar("_Doc", bound="_Located")


class V1Termination(SpecModel):
    """When to give up on a run: retries, time to live after finishing, and a timeout (seconds)."""

    max_retries: int | None = None
    ttl: int | None = None
    timeout: int | None = None


class _Located(SpecModel):
    """A top-level document, which remembers where in its source each value came from."""

    _source: SourceMap | None = PrivateAttr(default=None)

    def source_line(self, path: Path) -> int | None:
        """The line of `path` (camelCase keys) or of its closest ancestor; None if unknown."""
        return self._source.line(path) if self._source is not None else None


class V1Component(_Located):
    """A reusable, typed unit of work: inputs, outputs and what to run."""

    version: SpecVersion | None = None
    kind: Literal["component"] = "component"
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    inputs: list[V1IO] | None = None
    outputs: list[V1IO] | None = None
    termination: V1Termination | None = None
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


# Where an operation finds its component; exactly one is given.
COMPONENT_SOURCES = ("hubRef", "dagRef", "pathRef", "urlRef", "component")


class V1Operation(_Located):
    """A component plus the params, termination and patches of one use of it."""

    version: SpecVersion
    kind: Literal["operation"]
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    params: dict[str, V1Param] | None = None
    hub_ref: str | None = None
    dag_ref: str | None = None
    path_ref: str | None = None
    url_ref: str | None = None
    component: V1Component | None = None
    termination: V1Termination | None = None
    run_patch: dict[str, Any] | None = None
    presets: list[str] | None = None
    queue: str | None = None

    @model_validator(mode="after")
    def _one_component_source(self) -> Self:
        given = [key for key in COMPONENT_SOURCES if getattr(self, to_snake(key)) is not None]
        choices = ", ".join(COMPONENT_SOURCES[:-1]) + " or component"
        if not given:
            raise located_error(("component",), f"one of {choices} is required")
        if len(given) > 1:
            found = " and ".join(given)
            raise located_error((given[1],), f"give only one of {choices}; found {found}")
        return self


def load_operation(source: str | bytes | dict[str, Any], filename: str = "<spec>") -> V1Operation:
    """Parse and validate a `kind: operation` polyaxonfile; raises located SpecErrors."""
    data, lines = _read(source, filename, "operation")
    operation = _validate(V1Operation, data, lines)
    operation._source = lines
    return operation


def load_component(source: str | bytes | dict[str, Any], filename: str = "<spec>") -> V1Component:
    """Parse and validate a `kind: component` polyaxonfile; raises located SpecErrors."""
    data, lines = _read(source, filename, "component")
    if "version" not in data:
        raise SpecErrors([SpecError("version", "field required", lines.line(()))])
    component = _validate(V1Component, data, lines)
    component._source = lines
    return component


def _read(
    source: str | bytes | dict[str, Any], filename: str, kind: str
) -> tuple[dict[str, Any], SourceMap]:
    if isinstance(source, dict):
        data: Any = source
        lines = SourceMap(filename)
    else:
        try:
            data, lines = load_source(source, filename)
        except SpecError as exc:
            raise SpecErrors([exc]) from None
    if not isinstance(data, dict):
        raise SpecErrors([SpecError("", "expected a mapping at the top level", 1)])
    found = data.get("kind", kind)
    if found != kind:
        # Validating the rest against the wrong model would only bury this one mistake.
        reason = f"expected kind {kind!r}, got {found!r}"
        raise SpecErrors([SpecError("kind", reason, lines.line(("kind",)))])
    return data, lines


def _validate(model: type[_Doc], data: dict[str, Any], lines: SourceMap) -> _Doc:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecErrors([_spec_error(error, data, lines) for error in exc.errors()]) from None


def _spec_error(error: Any, data: dict[str, Any], lines: SourceMap) -> SpecError:
    loc, reason = _loc_and_reason(error)
    path = _user_path(loc, data)
    return SpecError(format_path(path), reason, lines.line(path))


def _loc_and_reason(error: Any) -> tuple[Path, str]:
    """pydantic's location and message, as a short phrase in Axon's words."""
    loc: Path = tuple(part for part in error["loc"] if part != "[key]")
    kind, ctx, msg = error["type"], error.get("ctx") or {}, error["msg"]
    if kind == LOCATED_ERROR:
        return (*loc, *ctx["at"]), ctx["reason"]
    if kind == "extra_forbidden":
        return loc, f"unknown key {loc[-1]!r}"
    if kind in ("missing", "union_tag_not_found"):
        return (*loc, "kind") if kind == "union_tag_not_found" else loc, "field required"
    if kind == "union_tag_invalid":
        tag, expected = ctx.get("tag"), ctx.get("expected_tags")
        if loc and loc[-1] == "run" and tag in POLYAXON_RUN_KINDS:
            return (*loc, "kind"), f"run kind {tag!r} is not supported yet; supported: {expected}"
        return (*loc, "kind"), f"unknown kind {tag!r}; expected one of: {expected}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, "input should be a mapping"
    reason = msg.removeprefix("Value error, ")
    if "[key]" in error["loc"]:
        reason = f"key: {reason}"
    return loc, reason[:1].lower() + reason[1:]


def _user_path(loc: Path, data: Any) -> Path:
    """pydantic's location spelled as the user wrote it: their key spelling, no union tags."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict):
            key = _user_key(node, part)
            last = index == len(loc) - 1
            if key is None and not last and part == node.get("kind"):
                continue  # pydantic names the union member it tried; the document does not
            path.append(part if key is None else key)
            node = None if key is None else node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        else:
            path.append(part)
            node = None
    return tuple(path)


def _user_key(node: dict[str, Any], part: str | int) -> str | int | None:
    if part in node:
        return part
    if isinstance(part, str) and to_snake(part) in node:
        return to_snake(part)
    return None
