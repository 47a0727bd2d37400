"""Matrices and their 16 parameter kinds: the forms each kind is written in, and the rules."""

from __future__ import annotations

import datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.errors import SpecErrors
from schemas.spec import load_operation
from schemas.spec_hp import HP_KINDS, V1HpParam, read_shorthand
from schemas.spec_matrix import V1Matrix

HP = TypeAdapter(V1HpParam)
MATRIX = TypeAdapter(V1Matrix)


def operation(matrix: str) -> str:
    return f"""\
version: 1.1
kind: operation
matrix:
{matrix}
component:
  inputs: [{{name: lr, type: float}}]
  run: {{kind: job, container: {{image: python:3.11}}}}
"""


def errors_of(source: str) -> list[tuple[str, str]]:
    with pytest.raises(SpecErrors) as caught:
        load_operation(source)
    return [(e.path, e.reason) for e in caught.value.errors]


def test_there_are_sixteen_parameter_kinds():
    assert sorted(HP_KINDS) == sorted(
        "choice pchoice range daterange datetimerange linspace logspace geomspace uniform "
        "quniform loguniform qloguniform normal qnormal lognormal qlognormal".split()
    )


@pytest.mark.parametrize(
    "written",
    [
        {"kind": "range", "value": [1, 10, 2]},
        {"kind": "range", "value": {"start": 1, "stop": 10, "step": 2}},
        {"kind": "range", "value": "1:10:2"},
        "range:1:10:2",
    ],
)
def test_a_range_reads_the_same_in_every_form(written):
    param = HP.validate_python(written)

    assert param.model_dump() == {"kind": "range", "value": {"start": 1, "stop": 10, "step": 2}}


@pytest.mark.parametrize(
    ("written", "kind", "value"),
    [
        ("choice:adam|sgd|0.1", "choice", ["adam", "sgd", 0.1]),
        ("pchoice:relu:0.3|tanh:0.7", "pchoice", [("relu", 0.3), ("tanh", 0.7)]),
        ("linspace:0.1:1:5", "linspace", {"start": 0.1, "stop": 1, "num": 5}),
        ("logspace:1:3:3:2", "logspace", {"start": 1, "stop": 3, "num": 3, "base": 2}),
        ("geomspace:1:64:7", "geomspace", {"start": 1, "stop": 64, "num": 7}),
        ("uniform:0:1", "uniform", {"low": 0, "high": 1, "size": None}),
        ("quniform:0:1:0.5", "quniform", {"low": 0, "high": 1, "size": None, "q": 0.5}),
        ("normal:0:1:3", "normal", {"loc": 0, "scale": 1, "size": 3}),
        ("qlognormal:0:1:0.1", "qlognormal", {"loc": 0, "scale": 1, "size": None, "q": 0.1}),
    ],
)
def test_a_matrix_param_may_be_one_kind_value_string(written, kind, value):
    param = HP.validate_python(written)

    assert (param.kind, param.model_dump()["value"]) == (kind, value)


def test_a_daterange_reads_dates_and_a_step_in_days():
    param = HP.validate_python("daterange:2024-01-01:2024-02-01:7")

    assert param.value.start == datetime.date(2024, 1, 1)
    assert param.value.step == 7


def test_other_strings_are_left_to_the_kind_check():
    assert read_shorthand("plain") == "plain"
    assert read_shorthand({"kind": "choice"}) == {"kind": "choice"}


def test_an_unquoted_range_gets_a_hint_to_quote_it():
    [(path, reason)] = errors_of(
        operation("  kind: grid\n  params:\n    lr: {kind: range, value: 1:10:2}")
    )

    assert path == "matrix.params.lr.value"
    assert reason == (
        "got the number 4202: YAML 1.1 reads an unquoted 1:10:2 as a base-60 integer; "
        'quote it: "1:10:2"'
    )


def test_grid_search_refuses_distributions_naming_each():
    [(path, reason)] = errors_of(
        operation("  kind: grid\n  params:\n    lr: 'uniform:0:1'\n    b: 'pchoice:x:1'")
    )

    assert path == "matrix.params"
    assert reason.endswith("lr (uniform) and b (pchoice) are distributions")


def test_bayes_takes_uniform_and_listable_kinds():
    matrix = MATRIX.validate_python(
        {
            "kind": "bayes",
            "numInitialRuns": 2,
            "metric": {"name": "loss"},
            "utilityFunction": {"kappa": 1.0},
            "params": {"a": "uniform:0:1", "b": "choice:1|2", "c": "range:1:5:1"},
        }
    )

    assert matrix.utility_function is not None
    assert matrix.utility_function.acquisition_function == "ucb"
    with pytest.raises(ValidationError, match="non-uniform"):
        MATRIX.validate_python({**matrix.model_dump(), "params": {"a": "normal:0:1"}})


def test_acquisition_functions_are_read_in_any_case():
    matrix = MATRIX.validate_python(
        {
            "kind": "bayes",
            "numInitialRuns": 1,
            "metric": {"name": "loss"},
            "utilityFunction": {"acquisitionFunction": "EI", "eps": 0.1},
            "params": {"a": "uniform:0:1"},
        }
    )

    assert matrix.utility_function.acquisition_function == "ei"


def test_pchoice_probabilities_may_not_exceed_one():
    with pytest.raises(ValidationError, match="add up to 1.2"):
        HP.validate_python("pchoice:a:0.6|b:0.6")


def test_pchoice_probabilities_below_one_are_allowed_as_in_polyaxon_examples():
    assert HP.validate_python({"kind": "pchoice", "value": [["relu", 0.1], ["tanh", 0.8]]})


def test_early_stopping_without_a_kind_is_read_from_its_keys():
    matrix = MATRIX.validate_python(
        {
            "kind": "mapping",
            "values": [{"lr": 0.1}],
            "earlyStopping": [
                {"metric": "loss", "value": 0.1, "optimization": "minimize"},
                {"percent": 30},
            ],
        }
    )

    kinds = [rule.kind for rule in matrix.early_stopping or ()]
    assert kinds == ["metric_early_stopping", "failure_early_stopping"]
