"""When a dag, mapping or search stops early (metric and failure rules), and what it optimizes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from schemas.spec_base import SpecModel

Optimization = Literal["maximize", "minimize"]


class V1OptimizationMetric(SpecModel):
    """The metric a search optimizes: `{name: loss, optimization: minimize}`."""

    name: str
    optimization: Optimization = "maximize"


class V1OptimizationResource(SpecModel):
    """The resource hyperband grows: `{name: num_steps, type: int}`."""

    name: str
    type: Literal["int", "float"] = "int"


class _Policy(SpecModel):
    evaluation_interval: int
    min_interval: int | None = None
    min_samples: int | None = None


class V1MedianStoppingPolicy(_Policy):
    """Stop runs whose best value is worse than the median of the running runs."""

    kind: Literal["median"] = "median"


class V1TruncationStoppingPolicy(_Policy):
    """Stop the worst `percent` of the running runs at every evaluation."""

    kind: Literal["truncation"] = "truncation"
    percent: float


class V1DiffStoppingPolicy(_Policy):
    """Stop runs worse than the best by more than `percent`."""

    kind: Literal["diff"] = "diff"
    percent: float


V1StoppingPolicy = Annotated[
    V1MedianStoppingPolicy | V1TruncationStoppingPolicy | V1DiffStoppingPolicy,
    Field(discriminator="kind"),
]


class V1MetricEarlyStopping(SpecModel):
    """Stop when a run's `metric` reaches `value` (or, with a policy, stop the runs it selects)."""

    kind: Literal["metric_early_stopping"] = "metric_early_stopping"
    metric: str
    value: float
    optimization: Optimization
    policy: V1StoppingPolicy | None = None


class V1FailureEarlyStopping(SpecModel):
    """Stop when `percent` of the runs have failed (0.5 is half a percent, not half)."""

    kind: Literal["failure_early_stopping"] = "failure_early_stopping"
    # polyaxon/_flow/early_stopping/policies.py takes any float; a share outside (0, 100]
    # could never be reached or would stop at once, so only that is refused.
    percent: Annotated[float, Field(gt=0, le=100)]


def _infer_kind(value: Any) -> Any:
    # Polyaxon's examples leave `kind` out; the keys say which rule is meant.
    if isinstance(value, dict) and "kind" not in value:
        if "metric" in value:
            return {"kind": "metric_early_stopping", **value}
        if "percent" in value:
            return {"kind": "failure_early_stopping", **value}
    return value


V1EarlyStopping = Annotated[
    V1MetricEarlyStopping | V1FailureEarlyStopping,
    Field(discriminator="kind"),
    BeforeValidator(_infer_kind),
]
