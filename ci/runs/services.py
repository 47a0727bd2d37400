"""A service run's HTTP face: its ports and path rules as compiled, and where Axon serves it.

A `run.kind: service` is opened through Axon at `/runs/<uuid>/service/` (ci.api.service_proxy)
while it runs. `rewritePath: true` strips that prefix, so the service sees `/`; otherwise the
service is handed the full path and told its base (`AXON_SERVICE_BASE_URL`, and the template
global `globals.base_url` as in Polyaxon) to serve under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.status import RunStatus

BASE_URL_VARIABLE = "AXON_SERVICE_BASE_URL"


@dataclass(frozen=True)
class ServiceFacts:
    """What a compiled service declares about being reached."""

    ports: tuple[int, ...]
    rewrite_path: bool
    is_external: bool

    @property
    def port(self) -> int | None:
        """The port Axon opens: the first declared."""
        return self.ports[0] if self.ports else None


def facts(compiled: dict[str, Any] | None) -> ServiceFacts | None:
    """The service facts of a compiled run; None for a run that is not a service."""
    run = ((compiled or {}).get("component") or {}).get("run") or {}
    if run.get("kind") != "service":
        return None
    return ServiceFacts(
        ports=tuple(int(p) for p in run.get("ports") or ()),
        rewrite_path=bool(run.get("rewritePath")),
        is_external=bool(run.get("isExternal")),
    )


def base_path(run_uuid: str) -> str:
    """Where Axon serves the run's service, as a path on Axon's own server."""
    return f"/runs/{run_uuid}/service/"


def open_url(status: str, compiled: dict[str, Any] | None, run_url: str) -> str | None:
    """The URL that opens the service (`run_url` is the run page's), while it runs and has a
    port; None otherwise."""
    found = facts(compiled)
    if found is None or found.port is None or status != RunStatus.RUNNING:
        return None
    return run_url.rstrip("/") + "/service/"
