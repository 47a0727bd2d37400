"""What a component runs: the `run` section of a job or a service, and the fields every pod has."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationInfo, model_validator

from schemas.spec_base import SpecModel, located_error, require
from schemas.spec_container import V1Container, V1EnvVar, V1K8sContainer
from schemas.spec_environment import V1Environment
from schemas.spec_init import V1Init

__all__ = [
    "POLYAXON_RUN_KINDS",
    "RENAMED_KINDS",
    "RUN_KINDS",
    "PodFields",
    "WithContainer",
    "V1EnvVar",
    "V1Job",
    "V1Service",
]

# Every run kind Polyaxon 1.1 knows, and Axon's two cluster kinds; those without a model here
# are refused by name, as "not supported yet".
POLYAXON_RUN_KINDS = (
    "job", "service", "dag", "tfjob", "pytorchjob", "mpijob", "raycluster", "daskcluster",
    "mxjob", "xgbjob", "spark", "dask", "ray", "flink", "notifier", "tuner", "watchdog",
    "cleaner",
)  # fmt: skip
RUN_KINDS = (
    "job", "service", "dag", "tfjob", "pytorchjob", "mpijob", "raycluster", "daskcluster",
    "rayjob", "daskjob", "spark",
)  # fmt: skip
# Polyaxon's names for kinds Axon names after the operator's object that runs them.
RENAMED_KINDS = {"dask": "daskjob", "ray": "rayjob"}


class PodFields(SpecModel):
    """What every pod-running kind (and every replica) may set besides its main container."""

    environment: V1Environment | None = None
    connections: list[str] | None = None
    volumes: list[dict[str, Any]] | None = None
    init: list[V1Init] | None = None
    sidecars: list[V1K8sContainer] | None = None


class WithContainer(PodFields):
    """A pod with a main container; in a dag's op, presets or the op's runPatch may give it
    (polyaxon/_flow/run/job.py leaves it optional until the op is compiled)."""

    container: V1Container | None = None

    @model_validator(mode="after")
    def _has_a_container(self, info: ValidationInfo) -> Self:
        require(self, info, "container")
        return self


class V1Job(WithContainer):
    """`run.kind: job`: one container running to completion."""

    kind: Literal["job"]


class V1Service(WithContainer):
    """`run.kind: service`: a long-running container reachable on `ports`."""

    kind: Literal["service"]
    ports: list[Annotated[int, Field(ge=1, le=65535)]] | None = None
    rewrite_path: bool | None = None
    is_external: bool | None = None
    replicas: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _ports_are_unique(self) -> Self:
        # Each port becomes a Service port; Kubernetes refuses a Service that repeats one.
        seen: set[int] = set()
        for index, port in enumerate(self.ports or ()):
            if port in seen:
                raise located_error(("ports", index), f"duplicate port {port}")
            seen.add(port)
        return self
