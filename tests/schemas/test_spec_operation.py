"""Operations beyond one job: dag operations, presets, runPatch, and where errors point."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError, SpecErrors
from schemas.spec import dump_component, load_component, load_operation
from tests.schemas.test_spec import COMPONENT, OPERATION


def only_error(source: str) -> SpecError:
    with pytest.raises(SpecErrors) as caught:
        load_operation(source)
    [error] = caught.value.errors
    return error


def test_every_error_names_its_line_and_column():
    source = OPERATION.replace("command:", "comand:").replace("image: python:3.11", "image: [x]")

    with pytest.raises(SpecErrors) as caught:
        load_operation(source)

    assert [(e.path, e.line, e.column) for e in caught.value.errors] == [
        ("component.run.container.image", 19, 7),
        ("component.run.container.comand", 20, 7),
    ]


def test_the_operations_of_a_dag_need_no_version_or_kind():
    op = load_operation(
        "version: 1.1\nkind: operation\ncomponent:\n  run:\n    kind: dag\n    operations:\n"
        "      - {name: a, hubRef: trainer}\n"
    )

    assert op.component is not None
    [child] = op.component.run.operations  # type: ignore[union-attr]
    assert (child.name, child.hub_ref, child.version) == ("a", "trainer", None)


def test_a_preset_needs_no_component():
    preset = load_operation(
        "version: 1.1\nkind: operation\nisPreset: true\nqueue: gpus\n"
        "runPatch: {container: {resources: {limits: {cpu: 2}}}}\n",
        is_preset=True,
    )

    assert (preset.queue, preset.component) == ("gpus", None)


def test_a_run_patch_is_checked_against_the_run_it_patches():
    error = only_error(OPERATION + "runPatch: {ports: [8080]}\n")

    assert (error.path, error.reason, error.line) == ("runPatch.ports", "unknown key 'ports'", 22)


def test_a_run_patch_of_a_kubeflow_job_may_patch_every_replica():
    source = """\
version: 1.1
kind: operation
runPatch:
  environment: {nodeSelector: {pool: gpu}}
component:
  run:
    kind: tfjob
    worker: {replicas: 2, container: {image: tensorflow/tensorflow}}
"""

    op = load_operation(source)

    assert op.run_patch == {"environment": {"nodeSelector": {"pool": "gpu"}}}


def test_a_component_is_dumped_with_camel_case_keys_and_nothing_unset():
    text = dump_component(load_component(COMPONENT))

    assert "isOptional" not in text and "null" not in text
    assert load_component(text).model_dump() == load_component(COMPONENT).model_dump()
