"""The Kubernetes runner: manifests from run specs, submitted, watched, stopped and read back."""

from runners.kubernetes.runner import KubernetesRunner

__all__ = ["KubernetesRunner"]
