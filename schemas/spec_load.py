"""From a document to a model, with every problem as a SpecError at the user's path and place."""

from __future__ import annotations

import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from schemas.errors import SpecError, SpecErrors
from schemas.spec_base import LOCATED_ERROR
from schemas.spec_source import Path, SourceMap, format_path, load_source
from schemas.spelling import did_you_mean

Model = TypeVar("Model", bound=BaseModel)
_MISSING = object()


def read_document(
    source: str | bytes | dict[str, Any], filename: str
) -> tuple[dict[str, Any], SourceMap]:
    """The document as plain data and its source map; SpecErrors if it is not a mapping."""
    if isinstance(source, dict):
        return _as_text(source), SourceMap(filename)
    try:
        data, lines = load_source(source, filename)
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    if not isinstance(data, dict):
        raise SpecErrors([SpecError("", "expected a mapping at the top level", 1, 1)])
    return _as_text(data), lines


def _as_text(value: Any) -> Any:
    """YAML's dates and times as ISO 8601 text, as JSON writes them, so that a YAML file and
    its JSON twin load the same (typed fields parse the text back)."""
    if isinstance(value, dict):
        return {key: _as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def located(path: Path, reason: str, lines: SourceMap) -> SpecError:
    """A SpecError at `path` (the user's spelling), with the line and column of that place."""
    line, column = lines.position(path)
    return SpecError(format_path(path), reason, line, column)


def validate(
    model: type[Model],
    data: Any,
    lines: SourceMap,
    *,
    at: Path = (),
    document: Any = None,
    context: dict[str, Any] | None = None,
) -> tuple[Model | None, list[SpecError]]:
    """`data` validated as `model`, or None and every error; `at` is where `data` sits in
    `document` (the whole file), so that errors name the place in the file."""
    try:
        # A fresh dict: validators below a dag mark it while they validate the dag's ops.
        return model.model_validate(data, context=dict(context or {})), []
    except ValidationError as exc:
        root = data if document is None else document
        partial = bool(context and context.get("partial"))
        found = [
            _spec_error(error, at, root, lines)
            for error in exc.errors()
            if not (partial and error["type"] == "missing")
        ]
        return None, found


def _spec_error(error: Any, at: Path, document: Any, lines: SourceMap) -> SpecError:
    loc, reason = _loc_and_reason(error)
    return located(user_path((*at, *loc), document), reason, lines)


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
        return (*loc, "kind"), _tag_reason(loc, ctx)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, "input should be a mapping"
    if kind == "literal_error" and len(ctx.get("expected", "").split(",")) > 8:
        return loc, _one_of_many(error["input"], ctx["expected"])
    reason = msg.removeprefix("Value error, ")
    if "[key]" in error["loc"]:
        reason = f"key: {reason}"
    return loc, reason[:1].lower() + reason[1:]


def _one_of_many(value: Any, expected: str) -> str:
    """A short reason for a value outside a long list: the closest known value, if any."""
    choices = [choice.strip(" '") for choice in expected.replace(" or ", ", ").split(",")]
    hint = did_you_mean(value, choices, f"expected one of: {', '.join(choices)}")
    return f"unknown value {value!r}; {hint}"


def _tag_reason(loc: Path, ctx: dict[str, Any]) -> str:
    from schemas.spec_run import POLYAXON_RUN_KINDS, RENAMED_KINDS, RUN_KINDS

    tag, expected = ctx.get("tag"), ctx.get("expected_tags")
    if loc and loc[-1] == "run" and tag in RENAMED_KINDS:
        return f"run kind {tag!r} is called {RENAMED_KINDS[tag]!r} in Axon"
    if loc and loc[-1] == "run" and tag in POLYAXON_RUN_KINDS and tag not in RUN_KINDS:
        return f"run kind {tag!r} is not supported yet; supported: {expected}"
    return f"unknown kind {tag!r}; expected one of: {expected}"


def user_path(loc: Path, data: Any) -> Path:
    """pydantic's location spelled as the user wrote it: their key spelling, no union tags,
    and nothing past a value written as one string (a shorthand)."""
    path: list[str | int] = []
    node, tag_seen = data, None
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict):
            key = _user_key(node, part)
            own_tag = part == node.get("kind") and tag_seen is not node
            if own_tag or (key is None and not last and _is_tag(part)):
                tag_seen = node  # pydantic names the union member it tried; the document does not
                continue
            path.append(part if key is None else key)
            node = _MISSING if key is None else node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif node is _MISSING or node is None:
            path.append(part)
        else:
            break  # a scalar written where pydantic reads a structure: the error is the scalar
    return tuple(path)


def _is_tag(part: str | int) -> bool:
    from schemas.spec import UNION_TAGS

    return part in UNION_TAGS


def _user_key(node: dict[str, Any], part: str | int) -> str | int | None:
    if part in node:
        return part
    if isinstance(part, str) and to_snake(part) in node:
        return to_snake(part)
    return None
