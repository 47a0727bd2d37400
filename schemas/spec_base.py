"""The base every spec model shares: camelCase keys, snake_case accepted, unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from schemas.spec_source import Path

# The pydantic error type of a check that knows which field, below the model, is at fault.
LOCATED_ERROR = "axon_located"


class SpecModel(BaseModel):
    """A Polyaxon V1 type: keys as Polyaxon writes them (camelCase), snake_case also accepted."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )


def located_error(at: Path, reason: str) -> PydanticCustomError:
    """An error for a model validator that points at `at`, relative to the model, not the model.

    `at` uses the camelCase names of the fields; the loader turns it back into the user's spelling.
    """
    return PydanticCustomError(LOCATED_ERROR, "{reason}", {"reason": reason, "at": at})


def partial(info: ValidationInfo) -> bool:
    """True while validating a patch or a preset, where a part may stand without the rest."""
    return bool((info.context or {}).get("partial"))


def completable(info: ValidationInfo) -> bool:
    """True where presets or a runPatch may still complete a run: in a patch, a preset, or the
    ops and components of a dag (each is compiled, and checked whole, when it starts)."""
    context = info.context or {}
    return bool(context.get("partial") or context.get("in_dag"))


def require(model: BaseModel, info: ValidationInfo, *names: str) -> None:
    """A located "field required" for the first of `names` the model lacks, unless completable."""
    for name in names:
        if getattr(model, name) is None and not completable(info):
            field = type(model).model_fields[name]
            raise located_error((field.alias or name,), "field required")
