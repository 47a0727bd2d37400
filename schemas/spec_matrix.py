"""A matrix: how one operation becomes many runs, and which parameter kinds each kind takes."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from schemas.spec_base import SpecModel, located_error
from schemas.spec_container import V1K8sContainer
from schemas.spec_early_stopping import (
    V1EarlyStopping,
    V1OptimizationMetric,
    V1OptimizationResource,
)
from schemas.spec_hp import HP_KINDS, V1HpParam, is_finite
from schemas.spec_io import V1Param

Positive = Annotated[int, Field(ge=1)]
HpParams = dict[str, V1HpParam]
GRID_KINDS = tuple(kind for kind, cls in HP_KINDS.items() if cls.DISCRETE and not cls.DISTRIBUTION)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _lower_of(*choices: str) -> BeforeValidator:
    """Polyaxon accepts `ucb`, `UCB` and `Ucb` alike."""
    spellings = [form for c in choices for form in (c, c.upper(), c.capitalize())]
    return BeforeValidator(_lower, json_schema_input_type=Literal[tuple(spellings)])


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class _Search(SpecModel):
    concurrency: Positive | None = None
    early_stopping: list[V1EarlyStopping] | None = None


class V1Tuner(SpecModel):
    """A hub component that makes the suggestions of a search (polyaxon/_flow/matrix/tuner.py).

    Axon makes its suggestions itself: a run whose matrix names a tuner is refused, saying so.
    """

    hub_ref: str
    presets: list[str] | None = None
    queue: str | None = None
    params: dict[str, V1Param] | None = None


class V1GridSearch(_Search):
    """Every combination of listable values (numRuns caps how many run)."""

    kind: Literal["grid"]
    params: HpParams
    num_runs: Positive | None = None

    @model_validator(mode="after")
    def _only_listable(self) -> Self:
        wrong = [f"{n} ({p.kind})" for n, p in self.params.items() if not is_finite(p)]
        if wrong:
            reason = (
                f"grid search takes only listable kinds ({', '.join(GRID_KINDS)}); "
                f"{_and(wrong)} {'is a distribution' if len(wrong) == 1 else 'are distributions'}"
            )
            raise located_error(("params",), reason)
        return self


class V1RandomSearch(_Search):
    """numRuns distinct combinations drawn at random (seeded)."""

    kind: Literal["random"]
    params: HpParams
    num_runs: Positive
    seed: int | None = None


class V1Mapping(_Search):
    """One run per listed set of params."""

    kind: Literal["mapping"]
    values: Annotated[list[dict[str, Any]], Field(min_length=1)]


class V1Hyperopt(_Search):
    """Sequential model-based search with the hyperopt library (tpe, rand or anneal)."""

    kind: Literal["hyperopt"]
    algorithm: Literal["tpe", "rand", "anneal"] = "tpe"
    params: HpParams
    num_runs: Positive
    max_iterations: Positive | None = None
    # polyaxon/_flow/matrix/hyperopt.py: the metric the search minimizes or maximizes; older
    # 1.x files leave it out, so it stays optional here.
    metric: V1OptimizationMetric | None = None
    seed: int | None = None
    tuner: V1Tuner | None = None


class V1GaussianProcess(SpecModel):
    """The gaussian process of a bayesian search."""

    kernel: Annotated[Literal["matern", "rbf"], _lower_of("matern", "rbf")] = "matern"
    length_scale: float = 1.0
    nu: float = 1.5
    num_restarts_optimizer: int = 0


class V1UtilityFunction(SpecModel):
    """The acquisition function: `ucb` needs `kappa`; `ei` and `poi` need `eps`."""

    acquisition_function: Annotated[Literal["ucb", "ei", "poi"], _lower_of("ucb", "ei", "poi")] = (
        "ucb"
    )
    gaussian_process: V1GaussianProcess | None = None
    kappa: float | None = None
    eps: float | None = None
    num_warmup: int | None = None
    num_iterations: int | None = None

    @model_validator(mode="after")
    def _tuning_given(self) -> Self:
        if self.acquisition_function == "ucb" and self.kappa is None:
            raise located_error(("kappa",), "the acquisition function ucb needs kappa")
        if self.acquisition_function in ("ei", "poi") and self.eps is None:
            reason = f"the acquisition function {self.acquisition_function} needs eps"
            raise located_error(("eps",), reason)
        return self


class V1Bayes(_Search):
    """Bayesian optimization of `metric`; params are listable or uniform."""

    kind: Literal["bayes"]
    utility_function: V1UtilityFunction | None = None
    num_initial_runs: Positive
    max_iterations: Positive | None = None
    metric: V1OptimizationMetric
    params: HpParams
    seed: int | None = None
    tuner: V1Tuner | None = None

    @model_validator(mode="after")
    def _uniform_or_listable(self) -> Self:
        wrong = [
            f"{n} ({p.kind})" for n, p in self.params.items() if p.DISTRIBUTION and not p.UNIFORM
        ]
        if wrong:
            what = "a non-uniform distribution" if len(wrong) == 1 else "non-uniform distributions"
            reason = (
                f"bayesian optimization takes uniform or listable kinds, not {what}: {_and(wrong)}"
            )
            raise located_error(("params",), reason)
        return self


class V1Hyperband(_Search):
    """Successive halving over `resource` up to `maxIterations`, keeping 1/eta each round."""

    kind: Literal["hyperband"]
    params: HpParams | None = None
    max_iterations: Positive
    eta: float
    resource: V1OptimizationResource
    metric: V1OptimizationMetric
    resume: bool | None = None
    seed: int | None = None
    tuner: V1Tuner | None = None

    @model_validator(mode="after")
    def _eta_shrinks(self) -> Self:
        if not self.eta > 1:
            raise located_error(("eta",), f"eta must be greater than 1, got {self.eta:g}")
        return self


class V1Iterative(_Search):
    """A user container suggests params for up to `maxIterations` rounds."""

    kind: Literal["iterative"]
    max_iterations: Positive
    params: HpParams | None = None
    seed: int | None = None
    container: V1K8sContainer | None = None


V1Matrix = Annotated[
    V1GridSearch | V1RandomSearch | V1Mapping | V1Hyperopt | V1Bayes | V1Hyperband | V1Iterative,
    Field(discriminator="kind"),
]
MATRIX_KINDS = ("grid", "random", "mapping", "hyperopt", "bayes", "hyperband", "iterative")
