"""What a component runs: the `run` section, one model per Polyaxon run kind."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from schemas.spec_base import SpecModel

# Every run kind Polyaxon 1.1 knows; the ones without a model here are refused by name.
POLYAXON_RUN_KINDS = (
    "job", "service", "dag", "tfjob", "pytorchjob", "mpijob", "mxjob", "xgbjob",
    "notifier", "tuner", "watchdog", "cleaner",
)  # fmt: skip


class V1EnvVar(SpecModel):
    """One environment variable of a container, Kubernetes style: `{name, value}`."""

    name: str
    value: str = ""


class V1Container(SpecModel):
    """The main container, a subset of Kubernetes' V1Container that grows as runners need it.

    `args` may be one string (Polyaxon's shell-line style, `command: [sh, -c]`); it is kept as
    one argument, never split on spaces.
    """

    name: str | None = None
    image: str
    image_pull_policy: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[V1EnvVar] | None = None
    env_from: list[dict[str, Any]] | None = None
    working_dir: str | None = None
    resources: dict[str, Any] | None = None
    ports: list[dict[str, Any]] | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None

    @field_validator("args", mode="before")
    @classmethod
    def _one_string_is_one_argument(cls, args: Any) -> Any:
        return [args] if isinstance(args, str) else args


class V1Job(SpecModel):
    """`run.kind: job`: one container running to completion."""

    kind: Literal["job"]
    container: V1Container
    environment: dict[str, Any] | None = None
    connections: list[str] | None = None
    volumes: list[dict[str, Any]] | None = None
    init: list[dict[str, Any]] | None = None
    sidecars: list[dict[str, Any]] | None = None


# Each new run kind joins this union: `Annotated[V1Job | V1Service | ..., Field(...)]`.
V1Run = Annotated[V1Job, Field(discriminator="kind")]
