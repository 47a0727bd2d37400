"""How a run is retried, cached, built and instrumented: termination, cache, plugins, build."""

from __future__ import annotations

from typing import Any, Literal

from schemas.spec_base import SpecModel
from schemas.spec_hooks import HOOK_TRIGGERS
from schemas.spec_io import V1Param

PatchStrategy = Literal["replace", "isnull", "post_merge", "pre_merge"]


class V1Termination(SpecModel):
    """When to give up on a run: retries, time to live after finishing, and a timeout (seconds)."""

    max_retries: int | None = None
    ttl: int | None = None
    timeout: int | None = None


class V1Cache(SpecModel):
    """Reuse a finished run with the same inputs: `disable`, `ttl`, and which inputs count."""

    disable: bool | None = None
    ttl: int | None = None
    io: list[str] | None = None
    inputs: list[str] | None = None
    sections: list[str] | None = None


class V1Notification(SpecModel):
    """Notify connections when the run reaches `trigger`."""

    connections: list[str]
    trigger: Literal[HOOK_TRIGGERS] | None = None  # type: ignore[valid-type]


class V1Plugins(SpecModel):
    """Switches for the utilities a run gets: auth, docker, shm, collection, log level..."""

    auth: bool | None = None
    docker: bool | None = None
    shm: bool | None = None
    mount_artifacts_store: bool | None = None
    collect_artifacts: bool | None = None
    collect_logs: bool | None = None
    collect_resources: bool | None = None
    sync_statuses: bool | None = None
    auto_resume: bool | None = None
    external_host: bool | None = None
    log_level: str | None = None
    sidecar: dict[str, Any] | None = None
    notifications: list[V1Notification] | None = None


class V1Build(SpecModel):
    """Build the image first with a hub component; the run uses what it builds."""

    hub_ref: str
    connection: str | None = None
    queue: str | None = None
    presets: list[str] | None = None
    cache: V1Cache | None = None
    params: dict[str, V1Param] | None = None
    run_patch: dict[str, Any] | None = None
    patch_strategy: PatchStrategy | None = None
