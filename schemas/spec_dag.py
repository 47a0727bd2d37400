"""`run.kind: dag`: operations and the components they share, run as a graph.

The graph itself (names, dagRefs, dependencies, cycles, order) is checked by `ci.compile.dag`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field, ModelWrapValidatorHandler, ValidationInfo, model_validator

from schemas.spec_base import SpecModel
from schemas.spec_early_stopping import V1EarlyStopping
from schemas.spec_environment import V1Environment

if TYPE_CHECKING:
    from schemas.spec import V1Component, V1Operation


class V1Dag(SpecModel):
    """Operations run when their upstreams (dependencies and `ref: ops.X` params) are done."""

    kind: Literal["dag"]
    operations: Annotated[list[V1Operation], Field(min_length=1)]
    components: list[V1Component] | None = None
    environment: V1Environment | None = None
    connections: list[str] | None = None
    volumes: list[dict[str, Any]] | None = None
    concurrency: Annotated[int, Field(ge=1)] | None = None
    early_stopping: list[V1EarlyStopping] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _ops_may_be_completed(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        # Polyaxon lets presets and an op's runPatch complete a dag op's component (its
        # container, say), so inside a dag a run may lack one until the op is compiled.
        context = info.context
        if not isinstance(context, dict):
            return handler(data)
        context["in_dag"] = context.get("in_dag", 0) + 1
        try:
            return handler(data)
        finally:
            context["in_dag"] -= 1

    def component_named(self, name: str) -> V1Component | None:
        """The shared component a `dagRef: name` points at, if any."""
        return next((c for c in self.components or () if c.name == name), None)
