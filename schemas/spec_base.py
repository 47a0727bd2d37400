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
