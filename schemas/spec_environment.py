"""Where and how a run's pods are placed (V1Environment), as Polyaxon writes it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from schemas.spec_base import SpecModel


def _as_strings(value: Any) -> Any:
    # Kubernetes wants string label values; Polyaxon turns `gpu: 1` or `spot: true` into text.
    if not isinstance(value, dict):
        return value
    return {
        key: str(item).lower() if isinstance(item, bool) else str(item)
        for key, item in value.items()
        if item is not None
    }


StringMap = Annotated[
    dict[str, str],
    BeforeValidator(_as_strings, json_schema_input_type=dict[str, str | int | float | bool]),
]


def _secret_names(value: Any) -> Any:
    # Polyaxon writes secret names; Kubernetes writes `{name: regcred}`: both name a secret.
    if not isinstance(value, list):
        return value
    return [
        item["name"] if isinstance(item, dict) and set(item) == {"name"} else item for item in value
    ]


SecretNames = Annotated[
    list[str],
    BeforeValidator(_secret_names, json_schema_input_type=list[str | dict[str, str]]),
]


class V1Environment(SpecModel):
    """Pod settings: labels, annotations, scheduling, identity and security."""

    labels: StringMap | None = None
    annotations: StringMap | None = None
    node_selector: StringMap | None = None
    affinity: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] | None = None
    node_name: str | None = None
    service_account_name: str | None = None
    host_aliases: list[dict[str, Any]] | None = None
    security_context: dict[str, Any] | None = None
    image_pull_secrets: SecretNames | None = None
    host_network: bool | None = None
    host_pid: bool | None = Field(default=None, alias="hostPID")
    dns_policy: str | None = None
    dns_config: dict[str, Any] | None = None
    scheduler_name: str | None = None
    priority_class_name: str | None = None
    priority: int | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] | None = None
