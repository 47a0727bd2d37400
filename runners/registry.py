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

# The run kinds each runner runs (its class's `kinds`), readable without loading the runner, so
# a refusal can name the runner that would run a kind; a test keeps the two in step.
KINDS: dict[str, frozenset[str]] = {
    "local": frozenset({"job"}),
    "kubernetes": frozenset(
        {"job", "service", "tfjob", "pytorchjob", "mpijob"}
        | {"spark", "daskjob", "daskcluster", "rayjob", "raycluster"}
    ),
}

# Where a runner's jobs find their outputs directory (`globals.run_outputs_path`), when not the
# core's `<runs dir>/<uuid>/outputs` (a pod's is its own emptyDir); a test keeps it in step.
OUTPUTS_PATHS: dict[str, str] = {"kubernetes": "/axon/outputs"}

# Each runner's own settings model, found the same lazy way; reading one never loads its runner.
settings: Registry[PluginSettings] = Registry(
    "runner settings",
    {
        "local": "runners.local:LocalSettings",
        "kubernetes": "runners.kubernetes.settings:KubernetesSettings",
    },
)
