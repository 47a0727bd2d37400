"""The shape of `on.comment.commands`: which verbs, which of them take arguments, and how an
argument is declared (see triggers.commands and triggers.arguments for what the values mean).

As in triggers.trigger_models, the models refuse unknown keys and expand the shorthands
(`commands: [run, cancel]`, `lr: float`); the values are read where they are used.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, field_validator, model_validator
from pydantic.json_schema import GetJsonSchemaHandler, WithJsonSchema
from pydantic_core import CoreSchema

from schemas.spec_base import located_error
from triggers.arguments import TYPES
from triggers.commands import VERBS
from triggers.model_base import FLAG, TriggerModel
from triggers.sections import hint

_COMMAND = "expected nothing, or for run and sweep a mapping with args"


class ArgumentModel(TriggerModel):
    """An argument: a type name (`lr: float`) or a mapping."""

    model_config = ConfigDict(json_schema_extra={"required": ["type"]})
    type: Annotated[Any, WithJsonSchema({"enum": list(TYPES)})] = None
    default: Annotated[Any, WithJsonSchema({"description": "when the comment gives none"})] = None
    options: Annotated[Any, WithJsonSchema({"type": "array", "minItems": 1})] = None
    required: Annotated[Any, WithJsonSchema(FLAG)] = None
    description: Annotated[Any, WithJsonSchema({"type": "string"})] = None
    not_a_mapping = f"expected a type ({', '.join(TYPES)}) or a mapping"

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"unknown key; known: {', '.join(sorted(cls.keys()))}"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"anyOf": [{"enum": list(TYPES)}, handler(schema)]}


class RunCommand(TriggerModel):
    """`run`, with the arguments a comment may give."""

    args: dict[str, ArgumentModel] | None = None
    not_a_mapping = _COMMAND

    @classmethod
    def unknown(cls, key: str) -> str:
        return _COMMAND

    @field_validator("args", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise located_error((), "expected a mapping of argument name to its type")
        return value


class SweepCommand(RunCommand):
    """`sweep`: a search from a pull request, with `numRuns` and the arguments a comment may
    give."""


class BareCommand(TriggerModel):
    """A verb that takes no arguments."""

    verb: ClassVar[str]
    not_a_mapping = _COMMAND

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"{cls.verb} takes no arguments" if key == "args" else _COMMAND


class RerunCommand(BareCommand):
    verb = "rerun"


class CancelCommand(BareCommand):
    verb = "cancel"


class ApproveCommand(BareCommand):
    verb = "approve"


class Commands(TriggerModel):
    """The verbs a subscription answers: a list of them, or a mapping to their settings."""

    run: RunCommand | None = None
    sweep: SweepCommand | None = None
    rerun: RerunCommand | None = None
    cancel: CancelCommand | None = None
    approve: ApproveCommand | None = None
    not_a_mapping = f"required: a mapping with some of {', '.join(VERBS)}"

    @classmethod
    def unknown(cls, key: str) -> str:
        return f"unknown command; {hint(key, list(VERBS))}"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list) and data and all(isinstance(verb, str) for verb in data):
            data = dict.fromkeys(data)
        if not isinstance(data, dict) or not data:
            raise located_error((), cls.not_a_mapping)
        # `rerun:` or `rerun: true`: the verb, with nothing to set.
        return {
            str(verb): {} if spec is None or spec is True else spec for verb, spec in data.items()
        }

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        listed = {"type": "array", "items": {"enum": list(VERBS)}, "minItems": 1}
        return {"anyOf": [listed, handler(schema)]}
