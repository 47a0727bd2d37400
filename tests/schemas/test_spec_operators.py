"""`run.kind: spark`, `daskjob` and `rayjob` (Polyaxon's V1Spark, V1Dask and V1Ray): what loads,
and where and why what does not."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError, SpecErrors
from schemas.spec import load_component

SPARK = """\
version: 1.1
kind: component
run:
  kind: spark
  type: python
  sparkVersion: "3.5.0"
  pythonVersion: "3"
  deployMode: cluster
  mainApplicationFile: local:///app/etl.py
  arguments: [--day, "2026-12-05"]
  sparkConf: {spark.sql.shuffle.partitions: "64"}
  driver:
    container: {image: "acme/spark:3.5"}
  executor:
    replicas: 3
    container: {image: "acme/spark:3.5"}
"""
DASK_JOB = """\
version: 1.1
kind: component
run:
  kind: daskjob
  job:
    container: {image: "ghcr.io/dask/dask:2024.5.0", command: [python, etl.py]}
  worker:
    replicas: 4
    container: {image: "ghcr.io/dask/dask:2024.5.0"}
"""
RAY_JOB = """\
version: 1.1
kind: component
run:
  kind: rayjob
  entrypoint: python tune.py
  rayVersion: "2.9.0"
  runtimeEnv: {pip: [requests]}
  head:
    container: {image: "rayproject/ray:2.9.0"}
  workers:
    small: {replicas: 2, maxReplicas: 4, container: {image: "rayproject/ray:2.9.0"}}
"""


def only_error(source: str) -> SpecError:
    with pytest.raises(SpecErrors) as caught:
        load_component(source)
    [error] = caught.value.errors
    return error


def test_a_spark_application_loads_with_polyaxons_fields():
    run = load_component(SPARK).run

    assert run.kind == "spark"
    assert (run.type, run.main_application_file, run.arguments) == (
        "python",
        "local:///app/etl.py",
        ["--day", "2026-12-05"],
    )
    assert run.executor is not None and run.executor.replicas == 3


def test_a_daskjob_and_a_rayjob_load():
    assert load_component(DASK_JOB).run.kind == "daskjob"
    ray = load_component(RAY_JOB).run
    assert ray.kind == "rayjob" and ray.entrypoint == "python tune.py"


@pytest.mark.parametrize(
    ("source", "path", "reason"),
    [
        (
            SPARK.replace("type: python", "type: go"),
            "run.type",
            "input should be 'java', 'scala', 'python' or 'r'",
        ),
        (
            SPARK.replace("deployMode: cluster", "deployMode: local"),
            "run.deployMode",
            "input should be",
        ),
        (
            SPARK.replace('  driver:\n    container: {image: "acme/spark:3.5"}\n', ""),
            "run.driver",
            "required",
        ),
        (SPARK.replace("type: python", "type: scala"), "run.mainClass", "required for a scala"),
        (
            SPARK.replace("replicas: 3", "replicas: -1"),
            "run.executor.replicas",
            "greater than or equal to 0",
        ),
        (SPARK.replace("sparkConf:", "sparkConfs:"), "run.sparkConfs", "unknown key 'sparkConfs'"),
        (DASK_JOB.replace("  job:\n", "  scheduler:\n"), "run.job", "field required"),
        (
            RAY_JOB.replace("maxReplicas: 4", "minReplicas: 5, maxReplicas: 4"),
            "run.workers.small.minReplicas",
            "5 is more than maxReplicas (4)",
        ),
        (
            RAY_JOB.replace('  head:\n    container: {image: "rayproject/ray:2.9.0"}\n', ""),
            "run.head",
            "field required",
        ),
    ],
)
def test_a_bad_field_is_refused_where_it_is_written(source: str, path: str, reason: str):
    error = only_error(source)

    assert error.path.startswith(path) and reason in error.reason, (error.path, error.reason)
    assert error.line is not None


@pytest.mark.parametrize(("polyaxon", "axon"), [("dask", "daskjob"), ("ray", "rayjob")])
def test_polyaxons_name_for_a_kind_axon_names_otherwise_says_which(polyaxon: str, axon: str):
    error = only_error(DASK_JOB.replace("kind: daskjob", f"kind: {polyaxon}"))

    assert (error.path, error.reason) == (
        "run.kind",
        f"run kind {polyaxon!r} is called {axon!r} in Axon",
    )
