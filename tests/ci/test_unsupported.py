"""A dag's own settings reach its ops; what a run cannot use is refused with its place.

A dag's `environment`, `connections` and `volumes` are Polyaxon's "passed to all operations":
each op gets them as part of its runPatch, under its own. A preset named in `presets:` is
looked up among the run's project presets: an unknown one fails the run naming it; `axon check`
without `--project` or `--presets-dir` knows none by name and says so.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from ci.cli.spec import check
from ci.compile.compiler import compile_operation
from ci.compile.inheritance import with_dag_settings
from runners.base import RunSpec
from runners.local import LocalRunner
from schemas.errors import SpecErrors
from schemas.spec import load_operation
from schemas.status import RunStatus
from tests.ci.conftest import operation
from tests.ci.test_pipelines import STEP, Pipeline, dag, op

S = RunStatus
SETTINGS: dict[str, Any] = {
    "environment": {"nodeSelector": {"pool": "cpu"}, "labels": {"team": "vision"}},
    "connections": ["s3"],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


@pytest.fixture
def pipeline(rt, db, axon, enqueued, local_runner) -> Pipeline:
    return Pipeline(rt, db, axon, enqueued)


@pytest.fixture
def every_field_carried_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's runner carries out every field, as the kubernetes runner does."""
    monkeypatch.setattr(LocalRunner, "unsupported", classmethod(lambda cls, component: []))


def runs(submitted: list[RunSpec]) -> dict[str, dict[str, Any]]:
    return {spec.name: spec.component["run"] for spec in submitted}


def labelled(**labels: str) -> dict[str, Any]:
    """The shared step, its own run labelled."""
    step = copy.deepcopy(STEP)
    step["name"] = "labelled"
    step["run"]["environment"] = {"labels": labels}
    return step


def test_a_dags_environment_connections_and_volumes_reach_each_op(
    pipeline, submitted, every_field_carried_out
):
    pipeline.push(dag(op("a"), op("b"), **SETTINGS))

    for run in runs(submitted).values():
        assert {key: run[key] for key in SETTINGS} == SETTINGS


def test_the_op_s_own_run_patch_wins_over_the_dag_and_the_dag_over_its_component(
    pipeline, submitted, every_field_carried_out
):
    own = {
        "environment": {"nodeSelector": {"pool": "gpu"}},
        "connections": ["db"],
        "volumes": [{"name": "data", "hostPath": {"path": "/d"}}],
    }
    operation_ = dag(
        op("patched", runPatch=own),
        {"name": "component", "dagRef": "labelled"},
        **SETTINGS,
    )
    operation_["component"]["run"]["components"].append(labelled(team="x", owner="ana"))

    pipeline.push(operation_)

    patched, component = runs(submitted)["patched"], runs(submitted)["component"]
    assert patched["environment"] == {"nodeSelector": {"pool": "gpu"}, "labels": {"team": "vision"}}
    assert patched["connections"] == ["s3", "db"]
    assert patched["volumes"] == [{"name": "data", "hostPath": {"path": "/d"}}]  # by name
    assert component["volumes"] == SETTINGS["volumes"]
    # post_merge, the default patchStrategy: the dag's keys over the component's, the rest kept.
    assert component["environment"]["labels"] == {"team": "vision", "owner": "ana"}


def test_an_op_with_pre_merge_keeps_its_component_s_values_over_the_dag_s(
    pipeline, submitted, every_field_carried_out
):
    operation_ = dag(
        {"name": "kept", "dagRef": "labelled", "patchStrategy": "pre_merge"}, **SETTINGS
    )
    operation_["component"]["run"]["components"].append(labelled(team="x"))

    pipeline.push(operation_)

    assert runs(submitted)["kept"]["environment"]["labels"] == {"team": "x"}


def test_a_nested_dag_passes_its_parent_s_settings_on_to_its_own_ops(
    pipeline, submitted, every_field_carried_out
):
    inner = {
        "kind": "component",
        "version": 1.1,
        "name": "inner",
        "run": {"kind": "dag", "operations": [op("deep")], "components": [STEP]},
    }
    run_id = pipeline.push(dag({"name": "nested", "component": inner}, **SETTINGS))

    nested = pipeline.child(run_id, "nested")
    assert nested.kind == "dag"
    assert runs(submitted)["deep"]["connections"] == ["s3"]
    assert runs(submitted)["deep"]["environment"]["nodeSelector"] == {"pool": "cpu"}


def test_on_the_local_runner_a_dag_s_environment_fails_each_op_naming_the_field(
    pipeline, submitted
):
    run_id = pipeline.push(dag(op("a"), op("b", "a"), environment={"nodeSelector": {"p": "x"}}))

    assert pipeline.statuses(run_id) == {"a": "failed", "b": "upstream_failed"}
    failed = pipeline.history(pipeline.child(run_id, "a").id)[-1]
    assert failed == (
        "failed",
        "CompilationError",
        "component.run.environment.nodeSelector: the local runner cannot choose the node a run "
        "goes to: run it on kubernetes",
    )
    assert pipeline.run(run_id).status == "failed"
    assert submitted == []


# ---- named presets -------------------------------------------------------------------------------

NAMED = (
    "not looked up: presets are found by name on the server (`axon check --project NAME` "
    "checks with the project's and its org's), in `--presets-dir DIR`, or applied as a file "
    "(`-f preset.yaml`)"
)
REFERENCED = (
    "presets named inside a component found by reference are not applied; name them in the "
    "operation's own `presets:`"
)


def with_preset() -> dict[str, Any]:
    return {**operation(), "presets": ["gpu"]}


def test_a_run_naming_a_preset_its_project_lacks_fails_at_compile_naming_it(axon, start, submitted):
    axon.create_project()
    axon.subscribe(operation=with_preset())
    [run_id] = axon.push()

    start(run_id)

    run = axon.run(run_id)
    last = run["conditions"][-1]
    assert (run["status"], last["reason"]) == ("failed", "CompilationError")
    assert last["message"] == "presets: unknown preset 'gpu'; known: none"
    assert submitted == []


def test_axon_check_says_the_same_of_a_named_preset(tmp_path: Path):
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump(with_preset(), sort_keys=False))

    result = CliRunner().invoke(check, ["-f", str(path)])

    assert result.exit_code == 1
    line = next(line for line in result.stderr.splitlines() if "presets" in line)
    assert line.endswith(f"presets: preset 'gpu': {NAMED}")


def test_a_dag_op_naming_a_preset_its_project_lacks_fails_when_it_starts(pipeline, submitted):
    run_id = pipeline.push(dag(op("a"), op("b", "a", presets=["gpu", "long"])))

    assert pipeline.statuses(run_id) == {"a": "scheduled", "b": "created"}
    pipeline.end(run_id, "a", S.SUCCEEDED)

    b = pipeline.child(run_id, "b")
    assert b.status == "failed"
    assert pipeline.history(b.id)[-1][1:] == (
        "CompilationError",
        "presets: unknown preset 'gpu'; known: none; presets: unknown preset 'long'; known: none",
    )
    assert len(submitted) == 1


def test_axon_check_warns_of_a_dag_op_s_preset_with_the_same_reason(tmp_path: Path):
    path = tmp_path / "dag.yaml"
    path.write_text(yaml.safe_dump(dag(op("a", presets=["gpu"])), sort_keys=False))

    result = CliRunner().invoke(check, ["-f", str(path)])

    assert result.exit_code == 0, result.stderr
    [warning] = result.stderr.splitlines()
    assert warning.endswith(f"warning: component.run.operations[0].presets: preset 'gpu': {NAMED}")


def test_a_hub_component_naming_a_preset_is_refused_where_the_operation_names_it(
    axon, rt, start, tmp_path: Path
):
    hub = tmp_path / "hub" / "trainer"
    hub.mkdir(parents=True)
    component = {**operation()["component"], "presets": ["gpu"]}
    (hub / "v1.yaml").write_text(yaml.safe_dump(component))
    rt.settings = rt.settings.model_copy(update={"hub_dir": str(tmp_path / "hub")})
    by_hub = {"version": 1.1, "kind": "operation", "hubRef": "trainer:v1"}
    by_hub["params"] = operation()["params"]
    axon.create_project()
    axon.subscribe(operation=by_hub)
    [run_id] = axon.push()

    start(run_id)

    last = axon.run(run_id)["conditions"][-1]
    assert last["reason"] == "CompilationError"
    assert last["message"].startswith(f"hubRef: its component names preset 'gpu': {REFERENCED}")


def test_a_distributed_op_gets_the_dag_s_settings_in_every_replica():
    replica = {"replicas": 1, "container": {"image": "tf", "command": ["python", "t.py"]}}
    tfjob = {
        "name": "train",
        "component": {
            "kind": "component",
            "run": {"kind": "tfjob", "chief": replica, "worker": replica},
        },
    }
    spec = {"version": 1.1, "kind": "operation", **with_dag_settings(tfjob, SETTINGS)}

    compiled = compile_operation(load_operation(spec), context={}, globals_={})

    run = compiled.component["run"]
    for name in ("chief", "worker"):
        assert {key: run[name][key] for key in SETTINGS} == SETTINGS
    assert "environment" not in run


def test_a_hook_naming_a_preset_is_refused_and_axon_check_warns_of_it(tmp_path: Path):
    spec = {**operation(), "hooks": [{"hubRef": "slack", "presets": ["quiet"]}]}
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))

    with pytest.raises(SpecErrors) as caught:
        compile_operation(load_operation(spec), context={"event": {"sha": "abc"}}, globals_={})
    result = CliRunner().invoke(check, ["-f", str(path)])

    assert [(e.path, e.reason) for e in caught.value.errors] == [
        ("hooks[0].presets", f"preset 'quiet': {NAMED}")
    ]
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0].endswith(
        f"warning: hooks[0].presets: preset 'quiet': {NAMED}"
    )


def test_a_params_or_an_inputs_connection_outside_a_build_is_refused_naming_it(tmp_path: Path):
    spec = operation()
    spec["params"] = {**spec["params"], "data": {"value": "s3://set", "connection": "lake"}}
    spec["component"]["inputs"] = [
        *spec["component"].get("inputs", ()),
        {"name": "data", "type": "str", "connection": "lake"},
    ]
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))

    with pytest.raises(SpecErrors) as caught:
        compile_operation(load_operation(spec), context={"event": {"sha": "abc"}}, globals_={})
    result = CliRunner().invoke(check, ["-f", str(path)])

    reasons = {e.path: e.reason for e in caught.value.errors}
    assert reasons["params.data.connection"].startswith(
        "a param's connection is carried out for a build's params only"
    )
    at = len(spec["component"]["inputs"]) - 1
    assert reasons[f"component.inputs[{at}].connection"].startswith(
        "an input's or output's connection is not carried out"
    )
    assert result.exit_code == 0
    assert "warning: params.data.connection:" in result.stderr
