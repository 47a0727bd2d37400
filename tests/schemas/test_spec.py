"""Polyaxon 1.1 operations and components: what loads, and where and why what doesn't."""

from __future__ import annotations

import json

import pytest
import yaml

from schemas.errors import SpecError, SpecErrors
from schemas.spec import (
    SPEC_VERSION,
    V1Component,
    V1Operation,
    V1Param,
    load_component,
    load_operation,
)

OPERATION = """\
version: 1.1
kind: operation
name: train
params:
  sha: {value: "{{ event.sha }}"}
  lr: 0.01
component:
  version: 1.1
  kind: component
  name: trainer
  inputs:
    - {name: sha, type: str}
    - {name: lr, type: float}
    - {name: epochs, type: int, value: 2, isOptional: true}
  termination: {timeout: 60}
  run:
    kind: job
    container:
      image: python:3.11
      command: [python, train.py]
      args: ["--lr={{ lr }}", "--epochs", "{{ epochs }}", "--sha", "{{ sha }}"]
"""

COMPONENT = """\
version: 1.1
kind: component
name: trainer
inputs:
  - name: lr
    type: float
run:
  kind: job
  container:
    image: python:3.11
    command: [python, train.py]
"""


def only_error(source: str | dict, loader=load_operation) -> SpecError:
    with pytest.raises(SpecErrors) as caught:
        loader(source)
    [error] = caught.value.errors
    return error


def test_a_complete_operation_loads():
    op = load_operation(OPERATION)

    assert isinstance(op, V1Operation)
    assert (op.version, op.kind, op.name) == (1.1, "operation", "train")
    assert op.component is not None
    assert [io.name for io in op.component.inputs or ()] == ["sha", "lr", "epochs"]
    assert op.component.inputs is not None and op.component.inputs[2].is_optional is True
    assert op.component.termination is not None and op.component.termination.timeout == 60
    container = op.component.run.container
    assert container.command == ["python", "train.py"]
    assert container.args is not None and container.args[-1] == "{{ sha }}"


def test_spec_version_is_1_1():
    assert SPEC_VERSION == 1.1


def test_version_may_be_written_as_a_string():
    op = load_operation(
        OPERATION.replace("version: 1.1\nkind: operation", 'version: "1.1"\nkind: operation')
    )

    assert op.version == 1.1


def test_version_1_0_is_rejected_naming_the_supported_version():
    error = only_error(
        OPERATION.replace("version: 1.1\nkind: operation", "version: 1.0\nkind: operation")
    )

    assert (error.path, error.line) == ("version", 1)
    assert "1.1" in error.reason and "1.0" in error.reason


def test_a_missing_version_is_required():
    error = only_error(OPERATION.replace("version: 1.1\nkind: operation", "kind: operation"))

    assert (error.path, error.reason) == ("version", "field required")


def test_snake_case_keys_are_accepted():
    source = (
        OPERATION.replace("isOptional", "is_optional")
        + "      working_dir: /src\n"
        + "termination: {max_retries: 2}\n"
    )

    op = load_operation(source)

    assert op.component is not None and op.component.run.container.working_dir == "/src"
    assert op.termination is not None and op.termination.max_retries == 2


def test_an_unknown_key_is_rejected_with_its_path_and_line():
    error = only_error(OPERATION.replace("command:", "comand:"))

    assert error.path == "component.run.container.comand"
    assert error.reason == "unknown key 'comand'"
    assert error.line == 20


def test_an_unknown_top_level_key_is_rejected():
    error = only_error(OPERATION + "matrics: {}\n")

    assert (error.path, error.reason, error.line) == ("matrics", "unknown key 'matrics'", 22)


def test_a_missing_container_is_located_at_its_run():
    source = OPERATION.split("    container:")[0]

    error = only_error(source)

    assert (error.path, error.reason, error.line) == (
        "component.run.container",
        "field required",
        16,
    )


def test_a_missing_image_is_located_at_its_container():
    error = only_error(OPERATION.replace("      image: python:3.11\n", ""))

    assert (error.path, error.reason, error.line) == (
        "component.run.container.image",
        "field required",
        18,
    )


def test_a_wrong_type_is_located_with_pydantics_reason():
    error = only_error(OPERATION.replace("image: python:3.11", "image: 3"))

    assert error.path == "component.run.container.image"
    assert error.reason == "input should be a valid string"
    assert error.line == 19


def test_a_missing_list_item_key_is_located_by_index():
    error = only_error(OPERATION.replace("{name: lr, type: float}", "{type: float}"))

    assert (error.path, error.reason, error.line) == (
        "component.inputs[1].name",
        "field required",
        13,
    )


def test_an_error_under_a_snake_case_key_keeps_the_users_spelling():
    error = only_error(OPERATION + "run_patch: 3\n")

    assert (error.path, error.line) == ("run_patch", 22)


def test_every_error_of_a_document_is_reported():
    source = OPERATION.replace("command:", "comand:").replace("image: python:3.11", "image: [x]")

    with pytest.raises(SpecErrors) as caught:
        load_operation(source)

    assert {e.path for e in caught.value.errors} == {
        "component.run.container.image",
        "component.run.container.comand",
    }


def test_params_short_and_full_forms_both_become_v1param():
    op = load_operation(OPERATION)

    assert op.params == {
        "sha": V1Param(value="{{ event.sha }}"),
        "lr": V1Param(value=0.01),
    }


def test_a_full_form_param_keeps_its_options():
    source = OPERATION.replace(
        'sha: {value: "{{ event.sha }}"}',
        'sha: {value: "{{ event.sha }}", toEnv: GIT_SHA, contextOnly: false, connection: repo}',
    )

    param = load_operation(source).params["sha"]  # type: ignore[index]

    assert (param.to_env, param.context_only, param.connection) == ("GIT_SHA", False, "repo")


def test_a_param_naming_only_a_connection_is_the_full_form_without_a_value():
    op = load_operation(OPERATION.replace("lr: 0.01", "lr: {connection: repo}"))

    assert op.params is not None and op.params["lr"] == V1Param(connection="repo")


def test_a_short_form_dict_is_a_value():
    op = load_operation(OPERATION.replace("lr: 0.01", "lr: {layers: 3}"))

    assert op.params is not None and op.params["lr"].value == {"layers": 3}


def test_a_full_form_param_with_a_typo_is_rejected():
    error = only_error(OPERATION.replace('{value: "{{ event.sha }}"}', '{value: "x", toEnvv: SHA}'))

    assert (error.path, error.reason, error.line) == (
        "params.sha.toEnvv",
        "unknown key 'toEnvv'",
        5,
    )


def test_a_param_option_of_the_wrong_type_is_located():
    error = only_error(
        OPERATION.replace('{value: "{{ event.sha }}"}', '{value: "x", contextOnly: 3}')
    )

    assert error.path == "params.sha.contextOnly"
    assert error.reason.startswith("input should be a valid boolean")


def test_an_unknown_io_type_suggests_the_closest():
    error = only_error(OPERATION.replace("type: float", "type: flot"))

    assert error.path == "component.inputs[1].type"
    assert error.reason == "unknown type 'flot'; did you mean 'float'?"


@pytest.mark.parametrize(
    "io_type", ["any", "int", "float", "bool", "str", "dict", "list", "path", "uri", "image", "git"]
)
def test_polyaxons_io_types_are_accepted(io_type):
    load_operation(OPERATION.replace("type: float", f"type: {io_type}"))


def test_a_default_value_must_fit_its_type():
    error = only_error(OPERATION.replace("type: int, value: 2", "type: int, value: many"))

    assert (error.path, error.line) == ("component.inputs[2].value", 14)
    assert error.reason == "expected int, got 'many'"


def test_a_flag_must_be_a_bool():
    error = only_error(
        OPERATION.replace("{name: lr, type: float}", "{name: lr, type: float, isFlag: true}")
    )

    assert error.path == "component.inputs[1].isFlag"
    assert "bool" in error.reason


def test_io_names_are_unique():
    error = only_error(OPERATION.replace("{name: lr, type: float}", "{name: sha, type: float}"))

    assert (error.path, error.reason) == ("component.inputs[1].name", "duplicate name 'sha'")


def test_a_polyaxon_run_kind_not_built_yet_is_named():
    error = only_error(OPERATION.replace("kind: job", "kind: flink"))

    assert error.path == "component.run.kind"
    assert error.reason.startswith("run kind 'flink' is not supported yet; supported: 'job'")
    assert (error.line, error.column) == (17, 5)


def test_an_unknown_run_kind_is_rejected_with_the_kinds_axon_runs():
    error = only_error(OPERATION.replace("kind: job", "kind: jobb"))

    assert (error.path, error.reason) == (
        "component.run.kind",
        "unknown kind 'jobb'; expected one of: 'job', 'service', 'dag', 'tfjob', 'pytorchjob',"
        " 'mpijob', 'raycluster', 'daskcluster', 'rayjob', 'daskjob', 'spark'",
    )


def test_a_run_without_kind_is_rejected():
    error = only_error(OPERATION.replace("    kind: job\n", ""))

    assert (error.path, error.reason) == ("component.run.kind", "field required")


def test_an_operation_needs_a_component_source():
    error = only_error(OPERATION.split("component:")[0])

    assert error.path == "component"
    assert "hubRef" in error.reason and "required" in error.reason


def test_an_operation_takes_only_one_component_source():
    error = only_error(OPERATION.replace("component:\n", "hubRef: org/trainer:v1\ncomponent:\n"))

    assert (error.path, error.line) == ("component", 8)
    assert "found hubRef and component" in error.reason


@pytest.mark.parametrize("key", ["hubRef", "dagRef", "pathRef", "urlRef"])
def test_an_operation_may_refer_to_its_component(key):
    op = load_operation(f"version: 1.1\nkind: operation\n{key}: somewhere\n")

    assert op.component is None


def test_args_written_as_one_string_stay_one_argument():
    source = OPERATION.replace("command: [python, train.py]", "command: [sh, -c]").replace(
        'args: ["--lr={{ lr }}", "--epochs", "{{ epochs }}", "--sha", "{{ sha }}"]',
        'args: "python train.py --lr {{ lr }}"',
    )

    op = load_operation(source)

    assert op.component is not None
    assert op.component.run.container.args == ["python train.py --lr {{ lr }}"]


def test_json_source_is_accepted():
    data = yaml.safe_load(OPERATION)

    op = load_operation(json.dumps(data, indent=2))

    assert op.model_dump() == load_operation(OPERATION).model_dump()


def test_a_dict_source_is_accepted_without_lines():
    data = yaml.safe_load(OPERATION.replace("command:", "comand:"))

    error = only_error(data)

    assert (error.path, error.line) == ("component.run.container.comand", None)


def test_an_operation_remembers_its_source_lines():
    op = load_operation(OPERATION)

    assert op.source_line(("component", "run", "container", "args", 2)) == 21


def test_a_yaml_syntax_error_is_located():
    error = only_error(OPERATION.replace("lr: 0.01", "lr: [0.01"))

    assert error.line is not None and error.reason.startswith("invalid YAML")


def test_a_document_that_is_not_a_mapping_is_rejected():
    error = only_error("- version: 1.1\n")

    assert (error.path, error.reason) == ("", "expected a mapping at the top level")


def test_an_empty_document_is_rejected():
    assert only_error("").reason == "expected a mapping at the top level"


def test_a_component_loads():
    component = load_component(COMPONENT)

    assert isinstance(component, V1Component)
    assert component.io()["lr"].type == "float"


def test_a_component_needs_a_version():
    error = only_error(COMPONENT.replace("version: 1.1\n", ""), load_component)

    assert (error.path, error.reason) == ("version", "field required")


def test_an_operation_is_not_a_component():
    error = only_error(OPERATION, load_component)

    assert (error.path, error.reason, error.line) == (
        "kind",
        "expected kind 'component', got 'operation'",
        2,
    )


def test_an_inline_component_may_omit_version_and_kind():
    source = OPERATION.replace("  version: 1.1\n  kind: component\n", "")

    op = load_operation(source)

    assert op.component is not None and op.component.kind == "component"


@pytest.mark.parametrize(
    "trigger", ["succeeded", "failed", "stopped", "skipped", "upstream_failed"]
)
def test_hooks_and_notifications_may_trigger_on_every_final_status(trigger):
    source = yaml.safe_load(COMPONENT)
    source["hooks"] = [{"hubRef": "slack", "trigger": trigger, "conditions": "{{ lr > 0 }}"}]
    source["plugins"] = {"notifications": [{"connections": ["email"], "trigger": trigger}]}
    component = load_component(source)
    assert component.hooks[0].trigger == trigger
    assert component.plugins.notifications[0].trigger == trigger


def test_a_hook_trigger_that_is_not_a_final_status_is_refused():
    source = yaml.safe_load(COMPONENT)
    source["hooks"] = [{"hubRef": "slack", "trigger": "running"}]
    error = only_error(source, load_component)
    assert error.path == "hooks[0].trigger"


def test_an_input_with_a_default_is_optional_without_saying_so():
    component = load_component(
        COMPONENT.replace("    type: float\n", "    type: float\n    value: 0.1\n")
    )

    [lr] = component.inputs or []
    assert (lr.is_optional, lr.required, lr.value) == (True, False, 0.1)


def test_an_input_that_is_not_optional_cannot_have_a_default():
    source = COMPONENT.replace(
        "    type: float\n", "    type: float\n    value: 0.1\n    isOptional: false\n"
    )

    error = only_error(source, load_component)

    assert (error.path, error.reason) == (
        "inputs[0].value",
        "a default value makes the input optional: remove it or isOptional: false",
    )


def test_a_dag_op_may_leave_its_container_to_presets_but_a_lone_component_may_not():
    dag = (
        "version: 1.1\nkind: operation\ncomponent:\n  run:\n    kind: dag\n"
        "    operations:\n      - {name: a, presets: [python], component: {run: {kind: job}}}\n"
    )

    load_operation(dag)
    error = only_error(COMPONENT.split("  container:")[0], load_component)

    assert (error.path, error.reason) == ("run.container", "field required")


def test_image_pull_secrets_may_be_written_as_kubernetes_writes_them():
    source = COMPONENT.replace(
        "run:\n  kind: job\n",
        "run:\n  kind: job\n  environment:\n    imagePullSecrets: [a, {name: b}]\n",
    )

    environment = load_component(source).run.environment  # type: ignore[union-attr]

    assert environment is not None and environment.image_pull_secrets == ["a", "b"]
