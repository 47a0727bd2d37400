"""Compiling an operation and an event into a run: typed params, argv, env and timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from ci.compile.compiler import CompiledRun, compile_operation
from schemas.errors import SpecError, SpecErrors
from schemas.event import Event, PullRequest
from schemas.spec import load_operation

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

SPECS = Path(__file__).parents[1] / "fixtures" / "specs"
GLOBALS = {"uuid": "8f1c", "name": "train", "project_name": "mnist", "iteration": 3}


def push(**fields) -> Event:
    values = {"kind": "push", "provider": "github", "repo": "acme/mnist", "sha": "abc123"}
    return Event(**{**values, **fields})


def compile_source(source: str, event: Event | None = None, **globals_) -> CompiledRun:
    op = load_operation(source)
    context = {"event": (event or push()).context()}
    return compile_operation(op, context=context, globals_={**GLOBALS, **globals_})


def with_args(args: str, inputs: str = "") -> str:
    """The example operation with other container args and extra inputs."""
    source = OPERATION.replace(
        'args: ["--lr={{ lr }}", "--epochs", "{{ epochs }}", "--sha", "{{ sha }}"]',
        f"args: {args}",
    )
    return source.replace("  termination:", f"{inputs}  termination:")


def compile_error(source: str, event: Event | None = None) -> SpecError:
    with pytest.raises(SpecErrors) as caught:
        compile_source(source, event)
    [error] = caught.value.errors
    return error


def test_the_example_operation_compiles_to_argv_env_and_timeout():
    run = compile_source(OPERATION)

    assert run.name == "train"
    assert run.image == "python:3.11"
    assert run.command == ["python", "train.py", "--lr=0.01", "--epochs", "2", "--sha", "abc123"]
    assert run.env == {}
    assert run.timeout == 60.0
    assert run.inputs == {"sha": "abc123", "lr": 0.01, "epochs": 2}


def test_the_compiled_component_is_rendered_and_json_serializable():
    run = compile_source(OPERATION)

    container = json.loads(json.dumps(run.component))["run"]["container"]
    assert container["args"] == ["--lr=0.01", "--epochs", "2", "--sha", "abc123"]


def test_a_param_template_reads_the_event_branch():
    source = with_args('["--branch={{ branch }}"]', "    - {name: branch, type: str}\n")
    source = source.replace("  lr: 0.01\n", "  lr: 0.01\n  branch: '{{ event.branch }}'\n")

    run = compile_source(source, push(branch="feature/x"))

    assert run.command[-1] == "--branch=feature/x"


def test_a_run_template_reads_the_event_and_globals_directly():
    run = compile_source(
        with_args('["{{ event.repo }}", "{{ globals.uuid }}", "{{ globals.name }}"]')
    )

    assert run.command[2:] == ["acme/mnist", "8f1c", "train"]


def test_a_pull_request_number_from_a_template_is_typed_as_an_int():
    source = with_args('["{{ pr }}"]', "    - {name: pr, type: int}\n")
    source = source.replace("  lr: 0.01\n", "  lr: 0.01\n  pr: '{{ event.pull_request.number }}'\n")
    event = push(kind="pull_request", pull_request=PullRequest(number=42, action="opened"))

    run = compile_source(source, event)

    assert run.inputs["pr"] == 42


def test_a_templated_string_is_coerced_to_the_input_type():
    run = compile_source(OPERATION.replace("lr: 0.01", "lr: '{{ globals.iteration }}.5'"))

    assert run.inputs["lr"] == 3.5


def test_a_branch_with_shell_metacharacters_stays_one_argv_element():
    source = with_args('["--branch", "{{ event.branch }}"]')

    run = compile_source(source, push(branch="main; rm -rf / && echo $(id)"))

    assert run.command == ["python", "train.py", "--branch", "main; rm -rf / && echo $(id)"]


def test_an_event_value_that_looks_like_a_template_is_not_rendered():
    source = with_args('["{{ event.message }}"]')

    run = compile_source(source, push(message="{{ ''.__class__.__mro__ }} {{ 7 * 7 }}"))

    assert run.command[-1] == "{{ ''.__class__.__mro__ }} {{ 7 * 7 }}"


def test_a_spaced_rendered_value_is_never_split():
    run = compile_source(with_args('["{{ event.message }}"]'), push(message="fix: two words"))

    assert run.command[-1] == "fix: two words"


def test_args_written_as_one_string_are_one_element_after_the_command():
    source = with_args('"python train.py --lr={{ lr }}"').replace(
        "command: [python, train.py]", "command: [sh, -c]"
    )

    run = compile_source(source)

    assert run.command == ["sh", "-c", "python train.py --lr=0.01"]


def test_an_undefined_name_names_the_field():
    error = compile_error(with_args('["--lr={{ lr }}", "--x", "{{ foo }}"]'))

    assert error.path == "component.run.container.args[2]"
    assert error.reason == "'foo' is undefined"
    assert error.line == 21


def test_an_undefined_name_in_a_param_names_the_param():
    error = compile_error(OPERATION.replace("{{ event.sha }}", "{{ event.nope }}"))

    assert error.path == "params.sha"
    assert "nope" in error.reason
    assert error.line == 5


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ event.__class__ }}",
    ],
)
def test_a_sandbox_escape_is_refused(template):
    error = compile_error(with_args(json.dumps([template])))

    assert error.path == "component.run.container.args[0]"
    assert "unsafe" in error.reason or "undefined" in error.reason


def test_a_template_cannot_mutate_the_context():
    error = compile_error(with_args("[\"{{ event.update({'sha': 'evil'}) }}\"]"))

    assert "unsafe" in error.reason


def test_a_huge_repetition_is_refused_quickly():
    started = time.monotonic()
    error = compile_error(with_args("[\"{{ 'x' * 1000000000 }}\"]"))

    assert time.monotonic() - started < 1
    assert "too large" in error.reason


def test_a_template_syntax_error_is_located():
    error = compile_error(with_args('["{{ lr "]'))

    assert error.path == "component.run.container.args[0]"
    assert error.reason.startswith("template syntax error")


def test_a_required_input_without_a_value_is_refused():
    error = compile_error(OPERATION.replace("  lr: 0.01\n", ""))

    assert (error.path, error.reason) == ("params.lr", "required input 'lr' has no value")


def test_a_param_that_is_not_an_input_is_refused():
    error = compile_error(OPERATION.replace("  lr: 0.01\n", "  lr: 0.01\n  lrr: 0.1\n"))

    assert error.path == "params.lrr"
    assert error.reason.startswith("not an input of the component")
    assert error.line == 7


def test_a_param_of_the_wrong_type_names_the_param_and_the_type():
    error = compile_error(OPERATION.replace("lr: 0.01", "lr: fast"))

    assert error.path == "params.lr"
    assert "'lr'" in error.reason and "float" in error.reason and "'fast'" in error.reason


def test_a_templated_value_of_the_wrong_type_is_refused():
    error = compile_error(
        OPERATION.replace("lr: 0.01", "lr: '{{ event.branch }}'"), push(branch="main")
    )

    assert error.path == "params.lr"
    assert "expected float, got 'main'" in error.reason


def test_an_optional_input_without_value_renders_empty():
    source = with_args('["--note={{ note }}"]', "    - {name: note, type: str, isOptional: true}\n")

    run = compile_source(source)

    assert run.inputs["note"] is None
    assert run.command[-1] == "--note="


def test_a_true_flag_renders_as_its_name_and_a_false_one_leaves_no_argument():
    inputs = (
        "    - {name: fast, type: bool, isFlag: true}\n"
        "    - {name: slow, type: bool, isFlag: true}\n"
    )
    source = with_args('["{{ fast }}", "{{ slow }}", "--lr={{ lr }}"]', inputs)
    source = source.replace("  lr: 0.01\n", "  lr: 0.01\n  fast: true\n  slow: 'false'\n")

    run = compile_source(source)

    assert run.command == ["python", "train.py", "--fast", "--lr=0.01"]


def test_params_as_arg_as_str_and_value_are_available():
    source = with_args(
        '["{{ params.lr.as_arg }}", "{{ params.epochs.as_str }}", "{{ params.sha.value }}"]'
    )

    run = compile_source(source)

    assert run.command[2:] == ["--lr=0.01", "2", "abc123"]


def test_arg_format_overrides_as_arg():
    inputs = (
        "    - {name: batch_size, type: int, argFormat: '-b {{ batch_size }}',"
        " value: 8, isOptional: true}\n"
    )
    source = with_args('["{{ params.batch_size.as_arg }}", "{{ params.epochs.as_arg }}"]', inputs)

    run = compile_source(source)

    assert run.command[2:] == ["-b 8", "--epochs=2"]


def test_params_as_args_is_a_shell_quoted_line():
    source = with_args('"python train.py {{ params.as_args }}"', "    - {name: note, type: str}\n")
    source = source.replace("  lr: 0.01\n", '  lr: 0.01\n  note: "it\'s"\n')

    run = compile_source(source)

    assert (
        run.command[-1] == "python train.py --sha=abc123 --lr=0.01 '--note=it'\"'\"'s' --epochs=2"
    )


def test_inputs_and_params_with_to_env_become_environment_variables():
    source = OPERATION.replace(
        "{name: lr, type: float}", "{name: lr, type: float, toEnv: LEARNING_RATE}"
    )
    source = source.replace(
        '{value: "{{ event.sha }}"}', '{value: "{{ event.sha }}", toEnv: GIT_SHA}'
    )
    source = source.replace(
        "      image: python:3.11\n",
        "      image: python:3.11\n      env: [{name: MODE, value: '{{ event.kind }}'}]\n",
    )

    run = compile_source(source)

    assert run.env == {"MODE": "push", "LEARNING_RATE": "0.01", "GIT_SHA": "abc123"}


def test_a_context_only_param_is_available_without_an_input():
    source = with_args('["{{ tag }}"]').replace(
        "  lr: 0.01\n", "  lr: 0.01\n  tag: {value: v1, contextOnly: true}\n"
    )

    run = compile_source(source)

    assert run.command[-1] == "v1"
    assert "tag" not in run.inputs


def test_a_value_outside_the_options_is_refused():
    source = OPERATION.replace(
        "{name: lr, type: float}", "{name: lr, type: float, options: [0.1, 0.2]}"
    )

    error = compile_error(source)

    assert error.path == "params.lr"
    assert "one of [0.1, 0.2]" in error.reason


def test_a_list_input_types_each_item():
    source = with_args('["{{ sizes }}"]', "    - {name: sizes, type: int, isList: true}\n")
    source = source.replace("  lr: 0.01\n", "  lr: 0.01\n  sizes: ['1', 2]\n")

    run = compile_source(source)

    assert run.inputs["sizes"] == [1, 2]
    assert run.command[-1] == "[1, 2]"


def test_the_operations_timeout_overrides_the_components():
    run = compile_source(OPERATION + "termination: {timeout: 5}\n")

    assert run.timeout == 5.0


def test_no_termination_means_no_timeout():
    run = compile_source(OPERATION.replace("  termination: {timeout: 60}\n", ""))

    assert run.timeout is None


def test_a_component_without_a_name_in_an_unnamed_operation_compiles():
    source = OPERATION.replace("name: train\n", "").replace("  name: trainer\n", "")

    run = compile_source(source)

    assert run.name == ""


def test_every_problem_of_a_compile_is_reported_together():
    source = OPERATION.replace("lr: 0.01", "lr: fast\n  lrr: 1").replace(
        '"{{ sha }}"]', '"{{ sha }}", "{{ nope }}"]'
    )

    with pytest.raises(SpecErrors) as caught:
        compile_source(source)

    assert [(e.path, e.line) for e in caught.value.errors] == [
        ("params.lr", 6),
        ("params.lrr", 7),
        ("component.run.container.args[5]", 22),
    ]


def test_as_arg_uses_the_name_as_written_as_polyaxon_does():
    inputs = "    - {name: batch_size, type: int, isOptional: true, value: 8}\n"

    run = compile_source(with_args('["{{ params.batch_size.as_arg }}"]', inputs))

    assert run.command[-1] == "--batch_size=8"


def test_inputs_and_outputs_are_also_mappings_in_templates():
    source = with_args('["{{ inputs.lr }}", "{{ outputs.model }}"]').replace(
        "  termination:",
        "  outputs:\n    - {name: model, type: path, isOptional: true, value: /m}\n  termination:",
    )

    run = compile_source(source)

    assert run.command[2:] == ["0.01", "/m"]
    assert run.params["model"] == "/m" and "model" not in run.inputs


def test_a_validation_predicate_refuses_a_param():
    source = OPERATION.replace(
        "{name: lr, type: float}", "{name: lr, type: float, validation: {lt: 0.001}}"
    )

    error = compile_error(source)

    assert (error.path, error.reason) == ("params.lr", "'lr': 0.01 must be less than 0.001")


def test_a_delayed_template_is_not_type_checked():
    op = load_operation(OPERATION.replace("lr: 0.01", "lr: '{{ globals.lr }}'"))
    globals_ = {"lr": "{{ later }}"}

    run = compile_operation(
        op, context={"event": push().context()}, globals_=globals_, delay_templates=True
    )

    assert run.params["lr"] == "{{ later }}"
    with pytest.raises(SpecErrors, match="expected float"):
        compile_operation(op, context={"event": push().context()}, globals_=globals_)


@pytest.mark.parametrize(
    ("file", "image", "command"),
    [
        ("tfjob.yaml", "tensorflow/tensorflow:2.15.0", ["python", "train.py"]),
        (
            "pytorchjob.yaml",
            "pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime",
            ["torchrun", "train.py", "--epochs=10"],
        ),
        ("raycluster.yaml", "rayproject/ray:2.9.0", []),
        ("daskcluster.yaml", "ghcr.io/dask/dask:2024.5.0", ["python", "etl.py"]),
        (
            "service.yaml",
            "jupyter/tensorflow-notebook",
            [
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=0.0.0.0",
                "--port=8888",
                "--NotebookApp.base_url=/nb",
            ],
        ),
    ],
)
def test_a_distributed_or_service_run_names_its_primary_container(file, image, command):
    component = (SPECS / "valid" / file).read_text()
    op = load_operation(
        {"version": 1.1, "kind": "operation", "component": yaml.safe_load(component)}
    )

    run = compile_operation(op, context={}, globals_={"ports": [8888], "base_url": "/nb"})

    assert (run.image, run.command) == (image, command)
    assert run.kind == file.removesuffix(".yaml")


def test_a_run_refuses_a_hook_that_disables_defaults_naming_the_field():
    source = OPERATION.replace(
        "name: train\n", "name: train\nhooks: [{hubRef: slack, disableDefaults: true}]\n", 1
    )

    with pytest.raises(SpecErrors) as caught:
        compile_source(source)

    [error] = caught.value.errors
    assert error.path == "hooks[0].disableDefaults"
    assert "disableDefaults: true is not supported yet" in error.reason


def test_a_run_refuses_a_search_with_a_tuner_naming_the_field():
    source = OPERATION + (
        "matrix:\n  kind: hyperopt\n  numRuns: 2\n  metric: {name: loss}\n"
        "  tuner: {hubRef: acme/tuner}\n  params: {lr: 'uniform:0:1'}\n"
    )

    with pytest.raises(SpecErrors) as caught:
        compile_source(source)

    assert ("matrix.tuner", 26) in {(e.path, e.line) for e in caught.value.errors}
    [reason] = [e.reason for e in caught.value.errors if e.path == "matrix.tuner"]
    assert reason.startswith("Axon makes a search's suggestions itself")


def test_a_param_template_over_an_upstream_op_reads_what_it_produced():
    op = load_operation(
        with_args('["--sha={{ sha }}"]').replace(
            'sha: {value: "{{ event.sha }}"}', 'sha: {value: "{{ ops.build.outputs.sha }}"}'
        )
    )
    refs = {"ops.build": {"outputs": {"sha": "f00d"}}}

    run = compile_operation(op, context={}, globals_=GLOBALS, refs=refs)

    assert run.command[-1] == "--sha=f00d"
