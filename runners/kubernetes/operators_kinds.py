"""The run kinds other operators run: where their objects live and which pod has the logs.

`spark` → the Spark operator's SparkApplication; `daskjob` / `daskcluster` → the Dask
Kubernetes operator's DaskJob / DaskCluster; `rayjob` / `raycluster` → KubeRay's RayJob /
RayCluster. Pure data, read by the manifests, the API calls and the status table alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Operator:
    """One operator's kind: its API, and the label that marks the pod whose log is the run's."""

    kind: str
    plural: str
    group: str
    version: str
    log_label: tuple[str, str]  # (key, value) of the driver, job runner, scheduler or head pod
    log_container: str  # that pod's main container

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def name(self) -> str:
        """The operator's short name, as settings and the chart spell it: spark, dask, ray."""
        return CHART_VALUES[self.group]


SPARK_GROUP, DASK_GROUP, RAY_GROUP = "sparkoperator.k8s.io", "kubernetes.dask.org", "ray.io"
OPERATORS: dict[str, Operator] = {
    "spark": Operator(
        "SparkApplication", "sparkapplications", SPARK_GROUP, "v1beta2",
        ("spark-role", "driver"), "spark-kubernetes-driver",
    ),
    "daskjob": Operator(
        "DaskJob", "daskjobs", DASK_GROUP, "v1", ("dask.org/component", "job-runner"), "job",
    ),
    "daskcluster": Operator(
        "DaskCluster", "daskclusters", DASK_GROUP, "v1",
        ("dask.org/component", "scheduler"), "scheduler",
    ),
    "rayjob": Operator(
        "RayJob", "rayjobs", RAY_GROUP, "v1", ("ray.io/node-type", "head"), "ray-head",
    ),
    "raycluster": Operator(
        "RayCluster", "rayclusters", RAY_GROUP, "v1", ("ray.io/node-type", "head"), "ray-head",
    ),
}  # fmt: skip
BY_PLURAL = {operator.plural: operator for operator in OPERATORS.values()}
# The chart's value that grants the agent each group (`operators.<name>.enabled`).
CHART_VALUES = {SPARK_GROUP: "spark", DASK_GROUP: "dask", RAY_GROUP: "ray"}
NAMES = frozenset(CHART_VALUES.values())
LOG_CONTAINERS = tuple(sorted({operator.log_container for operator in OPERATORS.values()}))


def operator_names(value: Iterable[str] | str) -> frozenset[str]:
    """The operators named in `value` (`"spark,ray"` or a list); an unknown name is refused."""
    names = value.split(",") if isinstance(value, str) else list(value)
    found = frozenset(n.strip().lower() for n in names if n.strip())
    unknown = sorted(found - NAMES)
    if unknown:
        raise ValueError(
            f"operators: unknown {', '.join(unknown)}; expected some of {', '.join(sorted(NAMES))}"
        )
    return found


def log_pod(plural: str, labels: dict[str, str]) -> bool:
    """Whether a pod with `labels` of a run of `plural` is the one whose log is the run's;
    every pod is, for a kind no operator here runs."""
    operator = BY_PLURAL.get(plural)
    if operator is None:
        return True
    key, value = operator.log_label
    return labels.get(key) == value
