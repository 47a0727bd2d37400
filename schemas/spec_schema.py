"""A JSON Schema of polyaxonfiles, for editors: `axon schema > polyaxonfile.schema.json`.

It describes the camelCase spelling; Axon also reads snake_case keys, which the schema does not
list. Values Axon reads in a short form are allowed in that form too: a param written as its
value (`lr: 0.1`), a matrix param written as one string (`"choice:a|b"`), a range as "1:10:2".
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from schemas.spec import SPEC_VERSION, V1Component, V1Operation
from schemas.spec_hp import HP_KINDS

_SHORTHAND = {
    "type": "string",
    "pattern": f"^({'|'.join(sorted(HP_KINDS))}):",
    "description": "kind:value, e.g. choice:adam|sgd, range:1:10:2, uniform:0:1",
}


def json_schema() -> dict[str, Any]:
    """The schema of a `kind: operation` or `kind: component` document."""
    documents = Annotated[V1Operation | V1Component, Field(discriminator="kind")]
    schema = TypeAdapter(documents).json_schema(by_alias=True, mode="validation")
    definitions = schema["$defs"]
    full_form = definitions["V1Param"]
    definitions["V1Param"] = {
        "description": full_form.get("description", ""),
        "anyOf": [full_form, {"not": {"type": "object"}}, {"type": "object"}],
    }
    _allow_shorthand(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Polyaxon {SPEC_VERSION} polyaxonfile (Axon)",
        **schema,
    }


def _allow_shorthand(node: Any) -> None:
    """Wherever a hyperparameter is expected, accept its one-string form as well."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if _is_hp_union(value):
                node[key] = {"anyOf": [_SHORTHAND, value]}
            else:
                _allow_shorthand(value)
    elif isinstance(node, list):
        for item in node:
            _allow_shorthand(item)


def _is_hp_union(node: Any) -> bool:
    mapping = node.get("discriminator", {}).get("mapping", {}) if isinstance(node, dict) else {}
    return bool(mapping) and set(mapping) == set(HP_KINDS)
