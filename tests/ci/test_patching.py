"""Patch strategies, presets and runPatch: what a preset or an operation changes in a run."""

from __future__ import annotations

import pytest

from ci.compile.compiler import compile_operation
from ci.compile.patching import apply_operation, apply_presets, patch, patch_run
from schemas.errors import SpecErrors
from schemas.spec import load_operation
from tests.ci.test_compiler import GLOBALS, SPECS, compile_source, push
from tests.ci.test_compiler import OPERATION as JOB

CURRENT = {"image": "a", "env": ["X"], "labels": {"team": "ml", "tier": "1"}, "gone": None}
NEW = {"image": "b", "env": ["Y", "X"], "labels": {"tier": "2"}, "gone": "here"}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (
            "post_merge",
            {
                "image": "b",
                "env": ["X", "Y"],
                "labels": {"team": "ml", "tier": "2"},
                "gone": "here",
            },
        ),
        (
            "pre_merge",
            {
                "image": "a",
                "env": ["Y", "X"],
                "labels": {"team": "ml", "tier": "1"},
                "gone": "here",
            },
        ),
        (
            "replace",
            {
                "image": "b",
                "env": ["Y", "X"],
                "labels": {"team": "ml", "tier": "2"},
                "gone": "here",
            },
        ),
        (
            "isnull",
            {"image": "a", "env": ["X"], "labels": {"team": "ml", "tier": "1"}, "gone": "here"},
        ),
    ],
)
def test_each_patch_strategy(strategy, expected):
    assert patch(CURRENT, NEW, strategy) == expected


def test_a_patch_does_not_change_its_inputs():
    current = {"a": {"b": [1]}}

    patch(current, {"a": {"b": [2]}})

    assert current == {"a": {"b": [1]}}


def test_a_null_or_missing_new_value_removes_nothing():
    assert patch({"a": 1, "b": 2}, {"a": None}) == {"a": 1, "b": 2}


def test_mappings_of_another_kind_replace_rather_than_merge():
    grid = {"kind": "grid", "params": {"a": 1}, "numRuns": 2}
    random = {"kind": "random", "params": {"b": 1}}

    assert patch(grid, random, "post_merge") == random
    assert patch(grid, random, "pre_merge") == grid


OPERATION = """\
version: 1.1
kind: operation
name: train
queue: cpus
presets: [gpu]
termination: {maxRetries: 1}
component:
  name: trainer
  termination: {timeout: 60}
  run:
    kind: job
    environment: {nodeSelector: {pool: cpu}}
    container: {image: python:3.11, command: [python, train.py]}
"""

GPU = """\
version: 1.1
kind: operation
isPreset: true
queue: gpus
runPatch:
  environment: {nodeSelector: {pool: gpu}}
  container: {resources: {limits: {nvidia.com/gpu: 1}}}
"""


def preset(text: str):
    return load_operation(text, is_preset=True)


def test_a_named_preset_patches_the_operation_with_its_strategy():
    op = load_operation(OPERATION)

    patched = apply_presets(op, (), {"gpu": preset(GPU)})

    assert patched.queue == "gpus"
    assert patched.run_patch == {
        "environment": {"nodeSelector": {"pool": "gpu"}},
        "container": {"resources": {"limits": {"nvidia.com/gpu": 1}}},
    }


def test_a_pre_merge_preset_only_fills_what_is_missing():
    op = load_operation(OPERATION.replace("presets: [gpu]\n", ""))
    lenient = preset(GPU.replace("isPreset: true", "isPreset: true\npatchStrategy: pre_merge"))

    patched = apply_presets(op, [lenient], {})

    assert patched.queue == "cpus"
    assert patched.run_patch is not None and "container" in patched.run_patch


def test_an_unknown_preset_is_named_with_the_known_ones():
    op = load_operation(OPERATION)

    with pytest.raises(SpecErrors) as caught:
        apply_presets(op, (), {"cpu": preset(GPU)})

    [error] = caught.value.errors
    assert (error.path, error.reason, error.line) == (
        "presets",
        "unknown preset 'gpu'; known: cpu",
        5,
    )


def test_the_operation_overrides_the_component_and_patches_its_run():
    op = apply_presets(load_operation(OPERATION), (), {"gpu": preset(GPU)})
    assert op.component is not None

    component = apply_operation(op, op.component)

    assert (component.name, component.queue) == ("train", "gpus")
    assert component.termination is not None
    assert (component.termination.timeout, component.termination.max_retries) == (60, 1)
    assert component.run.environment.node_selector == {"pool": "gpu"}  # type: ignore[union-attr]
    limits = component.run.container.resources.limits  # type: ignore[union-attr]
    assert limits == {"nvidia.com/gpu": 1}


def test_a_replica_patch_reaches_every_replica_of_a_kubeflow_job():
    run = {
        "kind": "pytorchjob",
        "master": {"replicas": 1, "container": {"image": "torch"}},
        "worker": {"replicas": 2, "container": {"image": "torch"}},
    }

    patched = patch_run(run, {"environment": {"nodeSelector": {"pool": "gpu"}}}, "post_merge")

    assert patched["master"]["environment"] == {"nodeSelector": {"pool": "gpu"}}
    assert patched["worker"]["environment"] == {"nodeSelector": {"pool": "gpu"}}
    assert patch_run(run, {"worker": {"replicas": 4}}, "post_merge")["worker"]["replicas"] == 4


def test_a_patch_that_breaks_the_run_is_reported_at_the_run_patch():
    op = load_operation(OPERATION.replace("presets: [gpu]\n", ""))
    broken = op.model_copy(update={"run_patch": {"container": {"image": None, "command": 3}}})
    assert op.component is not None

    with pytest.raises(SpecErrors) as caught:
        apply_operation(broken, op.component)

    [error] = caught.value.errors
    assert error.path == "runPatch"
    assert error.reason == (
        "after applying runPatch: run.container.command: input should be a valid list"
    )


def test_a_run_patch_is_applied_to_the_run():
    run = compile_source(JOB + "runPatch: {container: {image: python:3.12}}\n")

    assert run.image == "python:3.12"
    assert run.command[:2] == ["python", "train.py"]


def test_named_presets_are_applied_with_their_strategy():
    op = load_operation(JOB + "presets: [gpu]\n")
    gpu = load_operation((SPECS / "presets" / "gpu.yaml").read_text(), is_preset=True)

    run = compile_operation(
        op, context={"event": push().context()}, globals_=GLOBALS, presets={"gpu": gpu}
    )

    assert run.queue == "gpus"
    assert run.component["run"]["container"]["resources"] == {"limits": {"nvidia.com/gpu": 1}}
