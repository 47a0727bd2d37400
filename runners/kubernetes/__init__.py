"""The Kubernetes runner: manifests from run specs, submitted, watched, stopped and read back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runners.kubernetes.runner import KubernetesRunner

__all__ = ["KubernetesRunner"]


def __getattr__(name: str) -> Any:
    # The settings module sits in this package and is read by every process, so the runner
    # (and the kubernetes client with it) loads only when it is asked for.
    if name == "KubernetesRunner":
        from runners.kubernetes.runner import KubernetesRunner

        return KubernetesRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
