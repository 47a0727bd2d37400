"""Distributed runs: Kubeflow's TF, PyTorch and MPI jobs, Ray and Dask jobs and clusters, Spark."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationInfo, model_validator

from schemas.spec_base import SpecModel, located_error, partial
from schemas.spec_run import WithContainer

Count = Annotated[int, Field(ge=0)]
CleanPodPolicy = Literal["All", "Running", "None"]


class V1KFReplica(WithContainer):
    """One replica type of a Kubeflow job: how many, and the pod they run."""

    replicas: Count | None = None


class V1SchedulingPolicy(SpecModel):
    """Gang scheduling of a Kubeflow job's pods."""

    min_available: int | None = None
    queue: str | None = None
    priority_class: str | None = None
    schedule_timeout_seconds: int | None = None


class _Kubeflow(SpecModel):
    clean_pod_policy: CleanPodPolicy | None = None
    scheduling_policy: V1SchedulingPolicy | None = None

    def _replicas(self, *names: str) -> list[tuple[str, V1KFReplica]]:
        return [(n, getattr(self, n)) for n in names if getattr(self, n) is not None]

    def _check(self, names: tuple[str, ...], single: str, info: ValidationInfo) -> None:
        kind = getattr(self, "kind", "")
        given = self._replicas(*names)
        if not given and not partial(info):
            raise located_error((), f"a {kind} needs at least one of {', '.join(names)}")
        for name, replica in given:
            if name == single and (replica.replicas or 1) > 1:
                reason = f"a {kind} has one {single}, not {replica.replicas}"
                raise located_error((name, "replicas"), reason)


class V1TFJob(_Kubeflow):
    """`run.kind: tfjob`: chief, parameter servers, workers and an evaluator."""

    kind: Literal["tfjob"]
    enable_dynamic_worker: bool | None = None
    chief: V1KFReplica | None = None
    ps: V1KFReplica | None = None
    worker: V1KFReplica | None = None
    evaluator: V1KFReplica | None = None

    @model_validator(mode="after")
    def _has_replicas(self, info: ValidationInfo) -> Self:
        self._check(("chief", "ps", "worker", "evaluator"), "chief", info)
        return self


class V1PyTorchJob(_Kubeflow):
    """`run.kind: pytorchjob`: one master and workers."""

    kind: Literal["pytorchjob"]
    master: V1KFReplica | None = None
    worker: V1KFReplica | None = None

    @model_validator(mode="after")
    def _has_replicas(self, info: ValidationInfo) -> Self:
        self._check(("master", "worker"), "master", info)
        return self


class V1MPIJob(_Kubeflow):
    """`run.kind: mpijob`: one launcher and workers with `slotsPerWorker` slots each."""

    kind: Literal["mpijob"]
    slots_per_worker: Annotated[int, Field(ge=1)] | None = None
    implementation: str | None = None
    ssh_auth_mount_path: str | None = None
    launcher: V1KFReplica | None = None
    worker: V1KFReplica | None = None

    @model_validator(mode="after")
    def _has_replicas(self, info: ValidationInfo) -> Self:
        self._check(("launcher", "worker"), "launcher", info)
        return self


class V1RayReplica(WithContainer):
    """The head or a worker group of a Ray cluster."""

    replicas: Count | None = None
    min_replicas: Count | None = None
    max_replicas: Count | None = None
    ray_start_params: dict[str, str] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        low, high = self.min_replicas, self.max_replicas
        if low is not None and high is not None and low > high:
            raise located_error(("minReplicas",), f"{low} is more than maxReplicas ({high})")
        return self


class V1RayCluster(SpecModel):
    """`run.kind: raycluster`: a head, worker groups by name, and an optional entrypoint."""

    kind: Literal["raycluster"]
    ray_version: str | None = None
    entrypoint: str | None = None
    runtime_env: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    head: V1RayReplica
    workers: dict[str, V1RayReplica] | None = None


class V1DaskReplica(WithContainer):
    """The job, the scheduler or the workers of a Dask cluster."""

    replicas: Count | None = None


class V1DaskCluster(SpecModel):
    """`run.kind: daskcluster`: a job run against a scheduler and workers."""

    kind: Literal["daskcluster"]
    job: V1DaskReplica | None = None
    scheduler: V1DaskReplica | None = None
    worker: V1DaskReplica | None = None

    @model_validator(mode="after")
    def _has_a_job(self, info: ValidationInfo) -> Self:
        if self.job is None and self.worker is None and not partial(info):
            raise located_error((), "a daskcluster needs a job or workers")
        return self


class V1DaskJob(SpecModel):
    """`run.kind: daskjob` (Polyaxon's `dask`): a job runner pod against its own scheduler and
    workers, which go when the job ends."""

    kind: Literal["daskjob"]
    job: V1DaskReplica
    scheduler: V1DaskReplica | None = None
    worker: V1DaskReplica | None = None

    @model_validator(mode="after")
    def _one_job_runner(self) -> Self:
        if (self.job.replicas or 1) > 1:
            reason = f"a daskjob has one job, not {self.job.replicas}"
            raise located_error(("job", "replicas"), reason)
        return self


class V1RayJob(SpecModel):
    """`run.kind: rayjob` (Polyaxon's `ray`): an entrypoint submitted to a Ray cluster made for
    it, which goes when the entrypoint ends; without `entrypoint`, the head's command."""

    kind: Literal["rayjob"]
    ray_version: str | None = None
    entrypoint: str | None = None
    runtime_env: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    head: V1RayReplica
    workers: dict[str, V1RayReplica] | None = None


class V1SparkReplica(WithContainer):
    """The driver or the executors of a Spark application."""

    replicas: Count | None = None


SparkType = Literal["java", "scala", "python", "r"]


class V1Spark(SpecModel):
    """`run.kind: spark`: a Spark application run by the Spark operator (Polyaxon's V1Spark)."""

    kind: Literal["spark"]
    connections: list[str] | None = None
    volumes: list[dict[str, Any]] | None = None
    type: SparkType | None = None
    spark_version: str | None = None
    python_version: Literal["2", "3"] | None = None
    deploy_mode: Literal["cluster", "client", "in_cluster_client"] | None = None
    main_class: str | None = None
    main_application_file: str | None = None
    arguments: list[str] | None = None
    hadoop_conf: dict[str, str] | None = None
    spark_conf: dict[str, str] | None = None
    hadoop_config_map: str | None = None
    spark_config_map: str | None = None
    executor: V1SparkReplica | None = None
    driver: V1SparkReplica | None = None

    @model_validator(mode="after")
    def _has_a_driver(self, info: ValidationInfo) -> Self:
        if self.driver is None and not partial(info):
            raise located_error(("driver",), "required: a spark application needs a driver")
        if self.driver is not None and (self.driver.replicas or 1) > 1:
            reason = f"a spark application has one driver, not {self.driver.replicas}"
            raise located_error(("driver", "replicas"), reason)
        if self.type in ("java", "scala") and not self.main_class and not partial(info):
            raise located_error(("mainClass",), f"required for a {self.type} application")
        return self


# A runPatch of a Kubeflow job may patch the job or, as in Polyaxon, every replica at once.
REPLICA_OF = {"tfjob": V1KFReplica, "pytorchjob": V1KFReplica, "mpijob": V1KFReplica}
