"""Kubernetes containers as a polyaxonfile writes them: the main one, sidecars, init containers."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationInfo, field_validator, model_validator

from schemas.spec_base import SpecModel, require

Quantity = str | int | float


class V1EnvVar(SpecModel):
    """One environment variable, Kubernetes style: `{name, value}` or `{name, valueFrom}`."""

    name: str
    value: str = ""
    value_from: dict[str, Any] | None = None


class V1ResourceRequirements(SpecModel):
    """`resources: {requests: {cpu: 1}, limits: {nvidia.com/gpu: 1}}`."""

    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None
    claims: list[dict[str, Any]] | None = None


class V1K8sContainer(SpecModel):
    """Kubernetes' V1Container fields. `command` and `args` may each be one string; a string is
    kept as one argument (Polyaxon's `command: [sh, -c]` + `args: "a line"` style), never split
    on spaces, so a value rendered into it cannot become several arguments."""

    name: str | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[V1EnvVar] | None = None
    env_from: list[dict[str, Any]] | None = None
    working_dir: str | None = None
    resources: V1ResourceRequirements | None = None
    ports: list[dict[str, Any]] | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    volume_devices: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None
    liveness_probe: dict[str, Any] | None = None
    readiness_probe: dict[str, Any] | None = None
    startup_probe: dict[str, Any] | None = None
    lifecycle: dict[str, Any] | None = None
    resize_policy: list[dict[str, Any]] | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None

    @field_validator(
        "command", "args", mode="before", json_schema_input_type=list[str] | str | None
    )
    @classmethod
    def _one_string_is_one_argument(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class V1Container(V1K8sContainer):
    """The main container of a run: like any Kubernetes container, but the image is required
    (in a dag's op, presets or the op's runPatch may give it)."""

    @model_validator(mode="after")
    def _has_an_image(self, info: ValidationInfo) -> Self:
        require(self, info, "image")
        return self
