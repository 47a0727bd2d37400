"""Runners by name; the kubernetes client is imported only when that runner is asked for."""

from runners.base import Runner
from schemas.registry import Registry

runners: Registry[Runner] = Registry(
    "runner",
    {
        "local": "runners.local:LocalRunner",
        "kubernetes": "runners.kubernetes:KubernetesRunner",
    },
)
