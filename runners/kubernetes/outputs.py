"""A Kubernetes job's outputs directory, collected to Axon when its main container ends.

As Polyaxon's jobs do (they write to the run outputs path, and a sidecar syncs it to the store),
the main container gets an emptyDir at `OUTPUTS` (`AXON_OUTPUTS_PATH`, and Polyaxon's
`POLYAXON_RUN_OUTPUTS_PATH`), and the pod a native sidecar that mounts it read-only and waits;
the kubelet stops it once the main container has exited, and it then uploads every file through
Axon's tracking API with the run's token (`axon_tracking.collect`, given as its source text to
`python -c`, so any image with Python serves and nothing needs installing). The pod, and so the
Job, ends only after the upload, so the files are in before Axon records the end. Only a Job
gets one (a service never ends), only for a run of Axon (its environment names the run and the
API), and only where native sidecars exist (Kubernetes 1.29+): a plain sidecar would keep the
Job from completing. Elsewhere the directory is still there, for a job that uploads it itself
(`axon_tracking`'s `end()` does).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from runners.kubernetes.init_containers import PodOptions, mount
from runners.kubernetes.pods import NATIVE_SIDECARS

OUTPUTS = "/axon/outputs"
OUTPUTS_VOLUME = "axon-outputs"
COLLECTOR = "axon-outputs"
PATH_VARIABLES = ("AXON_OUTPUTS_PATH", "POLYAXON_RUN_OUTPUTS_PATH")
RUN_VARIABLES = ("AXON_RUN_UUID", "AXON_API_URL", "AXON_RUN_TOKEN")


def add_outputs(pod: dict[str, Any], env: Mapping[str, str], options: PodOptions) -> None:
    """Give the pod template's spec `pod` (its main container first) the outputs directory and
    its collector, when `options` ask for them and `env` names the run to upload to."""
    if not options.collect_outputs or not all(env.get(k) for k in RUN_VARIABLES[:2]):
        return
    main = pod["containers"][0]
    ours = [{"name": name, "value": OUTPUTS} for name in PATH_VARIABLES]
    main["env"] = [e for e in main.get("env") or () if e["name"] not in PATH_VARIABLES] + ours
    mount(main, OUTPUTS_VOLUME, OUTPUTS)
    pod["volumes"] = [*pod.get("volumes", ()), {"name": OUTPUTS_VOLUME, "emptyDir": {}}]
    if options.server is not None and options.server < NATIVE_SIDECARS:
        return
    collector = {
        "name": COLLECTOR,
        "image": options.outputs_image,
        "command": ["python", "-c", collector_source(), OUTPUTS],
        "env": [{"name": k, "value": env[k]} for k in RUN_VARIABLES if env.get(k)],
        # A native sidecar: started before the main container, stopped after it.
        "restartPolicy": "Always",
    }
    mount(collector, OUTPUTS_VOLUME, OUTPUTS, read_only=True)
    pod["initContainers"] = [*pod.get("initContainers", ()), collector]


@lru_cache(maxsize=1)
def collector_source() -> str:
    """`axon_tracking/collect.py`'s text, found without importing the client package."""
    found = importlib.util.find_spec("axon_tracking")
    if found is None or not found.submodule_search_locations:
        raise RuntimeError("axon_tracking is not installed beside the kubernetes runner")
    return (Path(list(found.submodule_search_locations)[0]) / "collect.py").read_text()
