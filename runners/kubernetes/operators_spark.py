"""A spark run as the Spark operator's SparkApplication (sparkoperator.k8s.io/v1beta2).

The operator makes the driver's and executors' pods itself from a few fields (a SparkPodSpec),
so the run's pod sections become those: image, env, connections (`envFrom`), labels,
annotations, placement, and resources as cores, `coreLimit` and memory in Spark's words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runners.kubernetes.operators_kinds import Operator
from runners.kubernetes.pods import ManifestError

if TYPE_CHECKING:
    from runners.kubernetes.operators import Parts

Obj = dict[str, Any]
SPARK_TYPES = {"java": "Java", "scala": "Scala", "python": "Python", "r": "R"}
SPARK_VERSION = "3.5.0"  # the operator requires one; the image decides what really runs
_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti|k|m|g|t)?$")


# -- Spark -----------------------------------------------------------------------------------


def spark_application(run: Mapping[str, Any], parts: Parts, operator: Operator) -> Obj:
    """The SparkApplication's spec."""
    driver = run.get("driver") or {}
    image = (driver.get("container") or {}).get("image") or parts.spec.image
    if not image:
        raise ManifestError("run.driver.container.image: required")
    kind = str(run.get("type") or "python")
    out: Obj = {
        "type": SPARK_TYPES[kind],
        "sparkVersion": str(run.get("sparkVersion") or SPARK_VERSION),
        "mode": str(run.get("deployMode") or "cluster").replace("_", "-"),
        "image": image,
    }
    if not run.get("mainApplicationFile"):
        raise ManifestError("run.mainApplicationFile: required by the Spark operator")
    for key in ("mainApplicationFile", "mainClass", "sparkConf", "hadoopConf"):
        if run.get(key):
            out[key] = run[key]
    for key in ("sparkConfigMap", "hadoopConfigMap"):
        if run.get(key):
            out[key] = str(run[key])
    if run.get("pythonVersion"):
        out["pythonVersion"] = str(run["pythonVersion"])
    if run.get("arguments"):
        out["arguments"] = [str(a) for a in run["arguments"]]
    retries = int(parts.termination.get("backoffLimit") or 0)
    out["restartPolicy"] = (
        {"type": "OnFailure", "onFailureRetries": retries, "onSubmissionFailureRetries": retries}
        if retries
        else {"type": "Never"}
    )
    out["driver"] = _spark_pod(driver, parts, "run.driver", image)
    executor = run.get("executor") or {}
    out["executor"] = _spark_pod(executor, parts, "run.executor", image)
    out["executor"]["instances"] = int(executor.get("replicas") or 1)
    return out


def _spark_pod(section: Mapping[str, Any], parts: Parts, where: str, image: str) -> Obj:
    """A SparkPodSpec: the operator makes the pod, so only what it takes is given."""
    container = section.get("container") or {}
    pod: Obj = {"labels": dict(parts.labels), "annotations": dict(parts.annotations)}
    if container.get("image") and container["image"] != image:
        pod["image"] = container["image"]
    env = [{"name": k, "value": str(v)} for k, v in parts.spec.env.items()]
    env += [dict(e) for e in container.get("env") or () if e.get("name") not in parts.spec.env]
    if env:
        pod["env"] = env
    connections = list((parts.spec.component.get("run") or {}).get("connections") or ())
    connections += [c for c in section.get("connections") or () if c not in connections]
    if connections:
        pod["envFrom"] = [{"secretRef": {"name": name}} for name in connections]
    resources = container.get("resources") or {}
    requests = {**parts.queue.resources.get("requests", {}), **(resources.get("requests") or {})}
    limits = {**parts.queue.resources.get("limits", {}), **(resources.get("limits") or {})}
    cpu = requests.get("cpu") or limits.get("cpu")
    pod["cores"] = max(1, math.ceil(_cpu(cpu, f"{where}.container.resources"))) if cpu else 1
    if limits.get("cpu"):
        pod["coreLimit"] = str(limits["cpu"])
    memory = requests.get("memory") or limits.get("memory")
    if memory:
        pod["memory"] = _spark_memory(memory, f"{where}.container.resources")
    environment = section.get("environment") or {}
    for key in ("nodeSelector", "tolerations", "affinity"):
        if environment.get(key):
            pod[key] = environment[key]
    if environment.get("serviceAccountName"):
        pod["serviceAccount"] = environment["serviceAccountName"]
    if section.get("sidecars"):
        pod["sidecars"] = [dict(c) for c in section["sidecars"]]
    return pod


def _cpu(value: Any, where: str) -> float:
    text = str(value)
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise ManifestError(f"{where}: cpu {value!r} is not a quantity") from None


def _spark_memory(value: Any, where: str) -> str:
    """Kubernetes' `512Mi` in Spark's words (`512m`); a bare number (bytes) in mebibytes, as
    Spark reads a bare number so."""
    found = _MEMORY.match(str(value))
    if found is None:
        raise ManifestError(f"{where}: memory {value!r} cannot be given to Spark (use 512Mi, 2Gi)")
    number, unit = found.groups()
    if unit is None:
        return f"{max(1, int(number) // 2**20)}m"
    return f"{number}{unit[0].lower()}"
