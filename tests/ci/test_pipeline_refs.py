"""A dag's ops may find their component by `hubRef` (the hub directory) or by `pathRef` (the
specs directory), as a single run does: each is read when the op starts, and runs in the
pipeline like an inline op, its outputs flowing downstream."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.test_pipelines import Pipeline

S = "succeeded"


def component(name: str, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "component",
        "name": name,
        "cache": {"disable": True},
        "run": {"kind": "job", "container": {"image": "python:3.11", "command": [code]}},
        **fields,
    }


PREPARE = component(
    "prepare", sys.executable, outputs=[{"name": "rows", "type": "int", "isOptional": True}]
)
TRAIN = component("train", sys.executable, inputs=[{"name": "rows", "type": "int"}])
TRAIN["run"]["container"]["args"] = ["--rows={{ rows }}"]


@pytest.fixture
def dirs(rt, tmp_path: Path) -> Path:
    """A hub holding `prepare:v1` and a specs directory holding `team/train.yaml`, set as
    the server's AXON_HUB_DIR and AXON_SPECS_DIR."""
    (tmp_path / "hub" / "prepare").mkdir(parents=True)
    (tmp_path / "hub" / "prepare" / "v1.yaml").write_text(yaml.safe_dump(PREPARE))
    (tmp_path / "specs" / "team").mkdir(parents=True)
    (tmp_path / "specs" / "team" / "train.yaml").write_text(yaml.safe_dump(TRAIN))
    rt.settings = rt.settings.model_copy(
        update={"hub_dir": str(tmp_path / "hub"), "specs_dir": str(tmp_path / "specs")}
    )
    return tmp_path


@pytest.fixture
def pipeline(rt, db, axon, enqueued, local_runner) -> Pipeline:
    return Pipeline(rt, db, axon, enqueued)


def dag(*ops: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "pipeline",
        "component": {"kind": "component", "run": {"kind": "dag", "operations": list(ops)}},
    }


BY_REFS = (
    {"name": "prepare", "hubRef": "prepare:v1"},
    {
        "name": "train",
        "pathRef": "team/train.yaml",
        "params": {"rows": {"ref": "ops.prepare", "value": "outputs.rows"}},
    },
)


def test_a_hub_op_and_a_path_op_run_in_order_and_the_output_flows_between_them(
    pipeline, dirs, submitted
):
    run_id = pipeline.push(dag(*BY_REFS))

    assert pipeline.statuses(run_id) == {"prepare": "scheduled", "train": "created"}
    pipeline.end(run_id, "prepare", S, rows=12)
    pipeline.end(run_id, "train", S)

    assert [(spec.name, spec.command) for spec in submitted] == [
        ("prepare", [sys.executable]),
        ("train", [sys.executable, "--rows=12"]),
    ]
    assert pipeline.run(run_id).status == S


def test_a_path_ref_dag_whose_ops_come_from_the_hub_runs_as_a_nested_pipeline(
    pipeline, dirs, submitted
):
    inner = {**component("inner", ""), "run": {"kind": "dag", "operations": list(BY_REFS)}}
    (dirs / "specs" / "team" / "inner.yaml").write_text(yaml.safe_dump(inner))

    run_id = pipeline.push(dag({"name": "nested", "pathRef": "team/inner.yaml"}))
    nested = pipeline.child(run_id, "nested")
    pipeline.end(nested.id, "prepare", S, rows=3)
    pipeline.end(nested.id, "train", S)

    assert (nested.kind, pipeline.statuses(nested.id)) == ("dag", {"prepare": S, "train": S})
    assert submitted[-1].command == [sys.executable, "--rows=3"]
    assert pipeline.run(run_id).status == S


def test_an_op_whose_hub_has_no_such_component_fails_naming_it_and_its_downstream_never_runs(
    pipeline, dirs, submitted
):
    missing = {**BY_REFS[0], "hubRef": "prepare:v9"}

    run_id = pipeline.push(dag(missing, BY_REFS[1]))

    assert pipeline.statuses(run_id) == {"prepare": "failed", "train": "upstream_failed"}
    failed = pipeline.history(pipeline.child(run_id, "prepare").id)[-1]
    assert failed[:2] == ("failed", "CompilationError")
    assert failed[2] == "hubRef: the hub has no component prepare:v9"
    assert submitted == []
