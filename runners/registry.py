"""Runners by name; the kubernetes client is imported only when that runner is asked for."""

from runners.base import Runner
from schemas.registry import Registry
from schemas.settings import PluginSettings

runners: Registry[Runner] = Registry(
    "runner",
    {
        "local": "runners.local:LocalRunner",
        "kubernetes": "runners.kubernetes:KubernetesRunner",
    },
)

# Each runner's own settings model, found the same lazy way; reading one never loads its runner.
settings: Registry[PluginSettings] = Registry(
    "runner settings",
    {
        "local": "runners.local:LocalSettings",
        "kubernetes": "runners.kubernetes.settings:KubernetesSettings",
    },
)
