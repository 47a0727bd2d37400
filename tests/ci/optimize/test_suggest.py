"""suggest()'s contract: what it accepts, what it refuses, and the iterative tuner's contract."""

from __future__ import annotations

import pytest

from ci.optimize import TunerSuggests, suggest, tuner_input, tuner_output

GRID = {"kind": "grid", "params": {"a": {"kind": "choice", "value": [1, 2, 3]}}}
ITERATIVE = {
    "kind": "iterative",
    "maxIterations": 5,
    "params": {"lr": {"kind": "uniform", "value": [0, 1]}},
    "container": {"image": "tuner:1"},
}


@pytest.mark.parametrize(
    ("observation", "message"),
    [
        ({"params": {"a": 1}, "value": 1.0, "status": "done"}, r"observations\[0\]\.status"),
        ({"params": [1], "value": 1.0, "status": "failed"}, r"observations\[0\]\.params"),
        ({"params": {"a": 1}, "value": "high", "status": "succeeded"}, r"observations\[0\]\.value"),
    ],
)
def test_a_malformed_observation_is_refused_naming_its_place(observation, message):
    with pytest.raises(ValueError, match=message):
        suggest(GRID, [observation], 1, seed=0)


def test_a_succeeded_observation_without_a_value_counts_as_failed_and_stays_taken():
    observation = {"params": {"a": 1}, "value": None, "status": "succeeded"}
    assert suggest(GRID, [observation], 5, seed=0) == [{"a": 2}, {"a": 3}]


def test_no_suggestion_is_asked_none_is_given():
    assert suggest(GRID, [], 0, seed=0) == []


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="n: expected"):
        suggest(GRID, [], -1, seed=0)


def test_iterative_suggestions_come_from_the_tuner_container():
    with pytest.raises(TunerSuggests, match="tuner container"):
        suggest(ITERATIVE, [], 1, seed=0)


def test_the_tuner_is_given_the_space_every_observation_and_its_budget():
    observations = [
        {"params": {"lr": 0.1}, "value": 0.5, "status": "succeeded"},
        {"params": {"lr": 0.2}, "value": None, "status": "running"},
    ]
    given = tuner_input(ITERATIVE, observations, seed=4)
    assert given == {
        "params": ITERATIVE["params"],
        "observations": observations,
        "maxIterations": 5,
        "seed": 4,
    }


def test_a_tuner_answer_naming_an_unknown_param_is_refused():
    assert tuner_output(ITERATIVE, [{"lr": 0.3}]) == [{"lr": 0.3}]
    with pytest.raises(ValueError, match=r"answer\[0\]: momentum not among"):
        tuner_output(ITERATIVE, [{"lr": 0.3, "momentum": 0.9}])


def test_only_an_iterative_matrix_has_a_tuner():
    with pytest.raises(ValueError, match="a grid matrix has no tuner"):
        tuner_input(GRID, [])
