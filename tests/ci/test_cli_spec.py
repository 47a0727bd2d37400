"""`axon check` and `axon schema`, and the corpus of polyaxonfiles they are checked against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ci.cli import spec
from ci.cli.spec import check, check_file, schema
from schemas.errors import SpecErrors

SPECS = Path(__file__).parents[1] / "fixtures" / "specs"
VALID = sorted(p for p in (SPECS / "valid").iterdir() if p.suffix in (".yaml", ".json"))
INVALID = sorted(
    p
    for p in (SPECS / "invalid").iterdir()
    if p.suffix in (".yaml", ".json") and not p.name.endswith(".expected.yaml")
)
OPTIONS = {"hub_dir": str(SPECS / "hub"), "presets_dir": str(SPECS / "presets")}


def local_fetch(url: str) -> bytes:
    assert url.startswith("https://raw.githubusercontent.com/")
    return (SPECS / "components" / "notebook.yaml").read_bytes()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_a_valid_file_checks_without_problems(path):
    runs = check_file(str(path), allow_url_refs=True, fetch=local_fetch, **OPTIONS)

    assert runs or yaml.safe_load(path.read_text()).get("isPreset")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_an_invalid_file_reports_exactly_its_expected_errors(path):
    expected = yaml.safe_load(path.with_name(path.stem + ".expected.yaml").read_text())["errors"]

    with pytest.raises(SpecErrors) as caught:
        check_file(str(path), **OPTIONS)

    found = [
        {"path": e.path, "line": e.line, "column": e.column, "reason": e.reason}
        for e in caught.value.errors
    ]
    key = lambda e: (e["line"] or 0, e["column"] or 0, e["path"], e["reason"])  # noqa: E731
    assert sorted(found, key=key) == sorted(expected, key=key)


def test_every_invalid_file_has_its_expected_errors_beside_it():
    expected = {p.name for p in (SPECS / "invalid").glob("*.expected.yaml")}

    assert expected == {p.stem + ".expected.yaml" for p in INVALID}


def run(*args: str):
    return CliRunner().invoke(check, list(args))


def test_check_prints_the_compiled_runs():
    result = run("-f", str(SPECS / "valid" / "matrix_mapping.yaml"))

    assert result.exit_code == 0, result.stderr
    runs = yaml.safe_load(result.stdout)["runs"]
    assert [r["command"] for r in runs] == [
        ["python", "train.py", "--lr=0.1", "--data=cifar10"],
        ["python", "train.py", "--lr=0.01", "--data=cifar100"],
    ]
    assert [r["iteration"] for r in runs] == [0, 1]


def test_check_shows_event_and_global_values_as_the_templates_that_name_them():
    result = run("-f", str(SPECS / "valid" / "job_every_field.yaml"), "-o", "json")

    assert result.exit_code == 0, result.stderr
    [compiled] = json.loads(result.stdout)["runs"]
    assert compiled["params"]["sha"] == "{{ event.sha }}"
    assert compiled["env"] == {"MODE": "train", "OPTIMIZER": "adam"}


def test_params_given_on_the_command_line_are_read_as_yaml():
    result = run("-f", str(SPECS / "valid" / "operation.json"), "-P", "lr=0.5", "-P", "epochs=7")

    assert result.exit_code == 0, result.stderr
    [compiled] = yaml.safe_load(result.stdout)["runs"]
    assert compiled["command"] == ["python", "train.py", "--lr=0.5", "--epochs=7"]


def test_more_files_are_presets_applied_in_order():
    result = run(
        "-f",
        str(SPECS / "valid" / "schedule_cron.yaml"),
        "-f",
        str(SPECS / "presets" / "gpu.yaml"),
        "-f",
        str(SPECS / "presets" / "long.yaml"),
    )

    assert result.exit_code == 0, result.stderr
    [compiled] = yaml.safe_load(result.stdout)["runs"]
    assert (compiled["queue"], compiled["timeout"], compiled["maxRetries"]) == ("gpus", 86400, 3)


def test_a_component_file_is_checked_as_an_operation_of_it():
    result = run("-f", str(SPECS / "components" / "trainer.yaml"), "-P", "epochs=2")

    assert result.exit_code == 0, result.stderr
    [compiled] = yaml.safe_load(result.stdout)["runs"]
    assert compiled["command"] == ["python", "train.py", "--lr=0.01", "--epochs=2"]


def test_every_problem_is_printed_with_file_line_and_column_and_exit_code_1():
    path = SPECS / "invalid" / "unknown_keys.yaml"

    result = run("-f", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:3:1: nmae: unknown key 'nmae'",
        f"{path}:9:7: component.run.container.comand: unknown key 'comand'",
        f"{path}:10:5: component.run.enviroment: unknown key 'enviroment'",
        f"{path}:11:3: component.inputz: unknown key 'inputz'",
        f"4 problems in {path}",
    ]


def test_a_component_files_problems_are_named_as_in_the_file():
    path = SPECS / "invalid" / "service.yaml"

    result = run("-f", str(path))

    assert result.exit_code == 1
    assert f"{path}:7:3: run.container.image: field required" in result.stderr.splitlines()


def test_a_missing_file_is_a_message_not_a_traceback(tmp_path):
    result = run("-f", str(tmp_path / "nope.yaml"))

    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "Traceback" not in result.output


def test_a_malformed_param_is_a_usage_error():
    result = run("-f", str(SPECS / "valid" / "operation.json"), "-P", "lr")

    assert result.exit_code == 2
    assert "expected name=value" in result.stderr


def test_an_unexpected_failure_is_reported_without_a_traceback(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(spec, "compile_matrix", explode)

    result = run("-f", str(SPECS / "valid" / "operation.json"))

    assert result.exit_code == 2
    assert result.stderr.strip().endswith("cannot check: RuntimeError: disk on fire")


def test_a_preset_file_checks_to_no_runs():
    result = run("-f", str(SPECS / "valid" / "preset_gpu.yaml"))

    assert (result.exit_code, yaml.safe_load(result.stdout)["runs"]) == (0, [])


def test_schema_prints_the_json_schema(tmp_path):
    printed = CliRunner().invoke(schema, [])
    written = CliRunner().invoke(schema, ["-o", str(tmp_path / "spec.json")])

    assert printed.exit_code == written.exit_code == 0
    document = json.loads(printed.stdout)
    assert document["$schema"].endswith("2020-12/schema")
    assert "V1Operation" in document["$defs"]
    assert json.loads((tmp_path / "spec.json").read_text()) == document


def test_the_commands_are_ready_to_register():
    assert [command.name for command in spec.COMMANDS] == ["check", "schema"]


def test_structural_type_and_param_errors_are_reported_in_one_pass(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(
        "version: 1.1\n"
        "kind: operation\n"
        "params:\n"
        "  lr: fast\n"
        "component:\n"
        "  inputs:\n"
        "    - {name: lr, type: float}\n"
        "    - {name: epochs, type: int}\n"
        "  run:\n"
        "    kind: job\n"
        "    container: {image: python:3.11, comand: [python]}\n"
    )

    result = run("-f", str(path), "-P", "epochs=many")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}: params.epochs: 'epochs' has type int: expected int, got 'many' "
        "(from -P epochs=many)",
        f"{path}:4:3: params.lr: 'lr' has type float: expected float, got 'fast'",
        f"{path}:11:37: component.run.container.comand: unknown key 'comand'",
        f"3 problems in {path}",
    ]


def test_a_structural_error_alone_adds_nothing_it_could_have_caused(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(
        "version: 1.1\nkind: operation\n"
        "component:\n  inputs: [{name: lr, type: float, isOptinal: true}]\n"
        "  run: {kind: job, container: {image: python:3.11, args: ['--lr={{ lr }}']}}\n"
    )

    result = run("-f", str(path))

    assert result.stderr.splitlines() == [
        f"{path}:4:36: component.inputs[0].isOptinal: unknown key 'isOptinal'",
        f"1 problem in {path}",
    ]


def test_what_axon_does_not_run_yet_is_valid_with_a_warning():
    path = SPECS / "valid" / "matrix_hyperopt_tuner.yaml"

    result = run("-f", str(path), "--presets-dir", str(SPECS / "presets"))

    assert result.exit_code == 0
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"{path}:10:3: warning: matrix.tuner: Axon makes a search's")
    assert yaml.safe_load(result.stdout)["runs"][0]["params"]["lr"] > 0
