"""What reacts to a run or starts one: hooks, event triggers and joins."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from schemas.spec_base import SpecModel
from schemas.spec_io import V1Param

# The statuses a hook may wait for: the final ones, and `done` for any of them.
HOOK_TRIGGERS = ("succeeded", "failed", "stopped", "skipped", "upstream_failed", "done")
RUN_STATUS_EVENTS = tuple(
    f"run_status_{status}"
    for status in (
        "created", "resuming", "on_schedule", "compiled", "queued", "scheduled", "starting",
        "running", "processing", "stopping", "failed", "stopped", "succeeded", "skipped",
        "warning", "unschedulable", "upstream_failed", "retrying", "unknown", "done",
    )
)  # fmt: skip
EVENT_KINDS = RUN_STATUS_EVENTS + (
    "run_approved_actor", "run_invalidated_actor", "run_new_artifacts", "connection_git_commit",
    "connection_dataset_version", "connection_registry_image", "alert_info", "alert_warning",
    "alert_critical", "model_version_new_metric", "project_custom_event", "org_custom_event",
)  # fmt: skip
EventKind = Literal[EVENT_KINDS]  # type: ignore[valid-type]


class V1Hook(SpecModel):
    """Run a hub component when the run reaches a final status (and `conditions` hold)."""

    hub_ref: str
    trigger: Literal[HOOK_TRIGGERS] | None = None  # type: ignore[valid-type]
    connection: str | None = None
    conditions: str | None = None
    presets: list[str] | None = None
    params: dict[str, V1Param] | None = None
    # polyaxon/_flow/hooks/__init__.py: true drops the main run's uuid, name, status, inputs
    # and outputs that a hook receives. Axon's reports always carry them, so a run refuses true.
    disable_defaults: bool | None = None


class V1EventTrigger(SpecModel):
    """Start when `ref` (`ops.NAME`, `runs.UUID`, ...) emits one of `kinds`."""

    kinds: Annotated[list[EventKind], Field(min_length=1)]
    ref: str

    @property
    def upstream(self) -> str | None:
        """The operation named by `ref: ops.NAME` (or `{{ ops.NAME }}`), else None."""
        text = self.ref.strip()
        if text.startswith("{{") and text.endswith("}}"):
            text = text[2:-2].strip()
        return text[4:] if text.startswith("ops.") else None


class V1JoinParam(SpecModel):
    """A param filled from every run a join finds: like a param, without `ref`."""

    value: Any = None
    context_only: bool | None = None
    connection: str | None = None
    to_init: bool | None = None
    to_env: str | None = None


class V1Join(SpecModel):
    """Query past runs and expose their inputs, outputs or artifacts as list params."""

    query: str
    sort: str | None = None
    limit: int | None = None
    offset: int | None = None
    params: dict[str, V1JoinParam] | None = None
