"""Expanding matrices into runs: the generators' properties, and the rules on numRuns."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from ci.compile.compiler import compile_matrix
from ci.compile.matrix import (
    MAX_RUNS,
    MatrixTooLarge,
    draw_one,
    expand,
    input_errors,
    sample,
    size,
    space_size,
    values,
)
from schemas.errors import SpecErrors
from schemas.spec import load_operation
from schemas.spec_hp import V1HpParam
from schemas.spec_io import V1IO
from schemas.spec_matrix import V1Matrix
from tests.ci.test_compiler import GLOBALS, OPERATION, compile_source, push

HP = TypeAdapter(V1HpParam)
MATRIX = TypeAdapter(V1Matrix)
PROPERTIES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ints = st.integers(min_value=-1000, max_value=1000)
steps = st.integers(min_value=1, max_value=50)
floats = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)


def hp(value):
    return HP.validate_python(value)


@PROPERTIES
@given(start=ints, length=st.integers(min_value=1, max_value=500), step=steps)
def test_an_integer_range_stops_before_stop(start, length, step):
    stop = start + length
    listed = values(hp({"kind": "range", "value": [start, stop, step]}))

    assert listed == list(range(start, stop, step))


@PROPERTIES
@given(start=floats, span=st.floats(min_value=0.01, max_value=50), step=st.floats(0.01, 10))
def test_a_float_range_starts_at_start_and_stays_below_stop(start, span, step):
    param = hp({"kind": "range", "value": [start, start + span, step]})
    listed = values(param)

    assert listed[0] == pytest.approx(start)
    assert len(listed) == max(1, math.ceil(span / step - 1e-9 * max(1, span / step)))
    assert listed[-1] < start + span


@PROPERTIES
@given(start=floats, span=st.floats(min_value=0.01, max_value=50), num=st.integers(1, 200))
def test_linspace_includes_both_ends_and_has_num_values(start, span, num):
    listed = values(hp({"kind": "linspace", "value": [start, start + span, num]}))

    assert len(listed) == num
    assert listed[0] == pytest.approx(start)
    if num > 1:
        assert listed[-1] == pytest.approx(start + span)
        assert listed == sorted(listed)


@PROPERTIES
@given(low=st.integers(-3, 3), span=st.integers(1, 4), num=st.integers(2, 30))
def test_logspace_is_base_to_an_evenly_spaced_exponent(low, span, num):
    listed = values(hp({"kind": "logspace", "value": [low, low + span, num, 2]}))

    assert listed[0] == pytest.approx(2.0**low)
    assert listed[-1] == pytest.approx(2.0 ** (low + span))
    ratios = [b / a for a, b in zip(listed, listed[1:], strict=False)]
    assert all(r == pytest.approx(ratios[0]) for r in ratios)


@PROPERTIES
@given(start=st.floats(0.1, 10), factor=st.floats(1.5, 1000), num=st.integers(2, 30))
def test_geomspace_has_a_constant_ratio_and_both_ends(start, factor, num):
    listed = values(hp({"kind": "geomspace", "value": [start, start * factor, num]}))

    assert (listed[0], listed[-1]) == (pytest.approx(start), pytest.approx(start * factor))
    ratios = [b / a for a, b in zip(listed, listed[1:], strict=False)]
    assert all(r == pytest.approx(ratios[0], rel=1e-6) for r in ratios)


@PROPERTIES
@given(low=floats, span=st.floats(0.01, 100), q=st.floats(0.01, 5), seed=st.integers(0, 999))
def test_uniform_draws_stay_in_bounds_and_q_kinds_are_multiples_of_q(low, span, q, seed):
    rng = random.Random(seed)
    plain = sample(hp({"kind": "uniform", "value": [low, low + span]}), rng)
    quantized = sample(hp({"kind": "quniform", "value": [low, low + span, q]}), rng)

    assert low <= plain <= low + span
    assert quantized / q == pytest.approx(round(quantized / q), abs=1e-6)


@PROPERTIES
@given(loc=floats, scale=st.floats(0.01, 10), seed=st.integers(0, 999), size_=st.integers(1, 5))
def test_log_kinds_are_positive_and_size_draws_a_list(loc, scale, seed, size_):
    rng = random.Random(seed)
    drawn = sample(hp({"kind": "lognormal", "value": [loc / 50, scale, size_]}), rng)

    assert len(drawn) == size_ and all(value > 0 for value in drawn)
    assert sample(hp({"kind": "loguniform", "value": [-2, 2]}), rng) > 0


def grid_of(sizes: list[int]) -> dict:
    params = {f"p{i}": {"kind": "range", "value": [0, n, 1]} for i, n in enumerate(sizes)}
    return {"kind": "grid", "params": params}


@PROPERTIES
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=4))
def test_a_grid_has_every_combination_once(sizes):
    runs = expand(MATRIX.validate_python(grid_of(sizes)))

    assert len(runs) == math.prod(sizes)
    assert len({tuple(run.values()) for run in runs}) == len(runs)


@PROPERTIES
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=3), wanted=st.integers(1, 300))
def test_random_search_is_distinct_and_capped_at_the_space(sizes, wanted):
    matrix = MATRIX.validate_python({**grid_of(sizes), "kind": "random", "numRuns": wanted})

    runs = expand(matrix, seed=1)

    assert len(runs) == min(wanted, math.prod(sizes))
    assert len({tuple(sorted(run.items())) for run in runs}) == len(runs)


@PROPERTIES
@given(seed=st.integers(0, 10_000))
def test_random_search_is_reproducible_from_its_seed(seed):
    matrix = MATRIX.validate_python(
        {"kind": "random", "numRuns": 5, "seed": seed, "params": {"lr": "uniform:0:1"}}
    )

    assert expand(matrix) == expand(matrix)
    assert len({run["lr"] for run in expand(matrix)}) == 5


def test_a_skewed_pchoice_still_yields_every_combination_when_asked():
    matrix = MATRIX.validate_python(
        {
            "kind": "random",
            "numRuns": 10,
            "params": {"a": "pchoice:x:0.999|y:0.001", "b": "choice:1|2|3"},
        }
    )

    runs = expand(matrix)

    assert len(runs) == 6
    assert {run["a"] for run in runs} == {"x", "y"}


def test_the_seed_argument_is_used_when_the_matrix_has_none():
    matrix = MATRIX.validate_python(
        {"kind": "random", "numRuns": 3, "params": {"x": "uniform:0:1"}}
    )

    assert expand(matrix, seed=1) != expand(matrix, seed=2)
    assert expand(matrix, seed=1) == expand(matrix, seed=1)


def test_dates_and_times_step_from_start_and_stop_before_stop():
    days = values(hp("daterange:2024-01-01:2024-01-15:7"))
    hours = values(
        hp(
            {
                "kind": "datetimerange",
                "value": ["2024-01-01T00:00:00Z", "2024-01-01T02:00:00Z", 3600],
            }
        )
    )

    assert days == ["2024-01-01", "2024-01-08"]
    assert hours == ["2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+00:00"]


def test_listable_kinds_have_a_size_and_distributions_do_not():
    assert size(hp("choice:a|b|c")) == 3
    assert space_size({"a": hp("range:0:10:1"), "b": hp("linspace:0:1:4")}) == 40
    assert space_size({"a": hp("uniform:0:1")}) == math.inf
    with pytest.raises(TypeError):
        size(hp("normal:0:1"))


def test_a_grid_with_num_runs_stops_early_in_order():
    matrix = MATRIX.validate_python({**grid_of([3, 3]), "numRuns": 4})

    assert expand(matrix) == [
        {"p0": 0, "p1": 0},
        {"p0": 0, "p1": 1},
        {"p0": 0, "p1": 2},
        {"p0": 1, "p1": 0},
    ]


def test_a_huge_grid_asks_for_num_runs():
    matrix = MATRIX.validate_python(grid_of([1000, 1000]))

    with pytest.raises(MatrixTooLarge, match="set numRuns"):
        expand(matrix)
    assert (
        len(expand(MATRIX.validate_python({**grid_of([1000, 1000]), "numRuns": MAX_RUNS})))
        == MAX_RUNS
    )


def test_a_mapping_lists_its_runs():
    matrix = MATRIX.validate_python({"kind": "mapping", "values": [{"a": 1}, {"a": 2}]})

    assert expand(matrix) == [{"a": 1}, {"a": 2}]


def test_a_search_over_results_is_not_expanded_but_can_draw_one_run():
    matrix = MATRIX.validate_python(
        {"kind": "hyperopt", "numRuns": 4, "params": {"lr": "uniform:0:1", "n": "choice:1|2"}}
    )

    with pytest.raises(ValueError, match="round by round"):
        expand(matrix)
    drawn = draw_one(matrix, seed=3)
    assert set(drawn) == {"lr", "n"} and drawn == draw_one(matrix, seed=3)


def test_matrix_params_must_fit_their_inputs_and_others_are_context():
    matrix = MATRIX.validate_python(
        {
            "kind": "grid",
            "params": {
                "lr": "range:1:3:1",
                "x": "choice:1|2",
                "d": "daterange:2024-01-01:2024-01-02:1",
            },
        }
    )
    inputs = {"lr": V1IO(name="lr", type="str"), "d": V1IO(name="d", type="date")}

    assert input_errors(matrix, inputs) == [
        (
            ("matrix", "params", "lr", "kind"),
            "range gives int or float values, but input 'lr' has type str",
        ),
    ]


GRID = (
    OPERATION.replace("  lr: 0.01\n", "")
    + """\
matrix:
  kind: grid
  params:
    lr: "choice:0.1|0.2"
    epochs: "range:1:3:1"
"""
)


def test_a_matrix_operation_compiles_one_run_per_combination():
    op = load_operation(GRID.replace('"{{ sha }}"]', '"{{ sha }}", "{{ globals.iteration }}"]'))

    runs = compile_matrix(op, context={"event": push().context()}, globals_=GLOBALS)

    assert [(r.iteration, r.inputs["lr"], r.inputs["epochs"]) for r in runs] == [
        (0, 0.1, 1),
        (1, 0.1, 2),
        (2, 0.2, 1),
        (3, 0.2, 2),
    ]
    assert [r.command[-1] for r in runs] == ["0", "1", "2", "3"]


def test_a_matrix_operation_is_not_compiled_as_one_run():
    with pytest.raises(SpecErrors) as caught:
        compile_source(GRID)

    [error] = caught.value.errors
    assert (error.path, error.line) == ("matrix.kind", 22)
    assert error.reason == "a grid matrix makes one run per combination of its params, not one run"


def test_a_search_over_results_is_not_expanded():
    op = load_operation(GRID.replace("kind: grid", "kind: hyperopt\n  numRuns: 3"))

    with pytest.raises(SpecErrors, match="chooses its runs from results"):
        compile_matrix(op, context={"event": push().context()}, globals_=GLOBALS)


def test_an_operation_without_a_matrix_compiles_to_one_run():
    [run] = compile_matrix(
        load_operation(OPERATION), context={"event": push().context()}, globals_=GLOBALS
    )

    assert run.iteration is None and run.inputs["lr"] == 0.01


def test_a_mapping_value_no_input_declares_is_a_param_of_the_runs_context():
    source = (
        OPERATION.replace("  lr: 0.01\n", "")
        + "matrix:\n  kind: mapping\n  values:\n    - {lr: 0.1, tag: small}\n"
    ).replace('"--sha", "{{ sha }}"]', '"--tag={{ tag }}"]')

    context = {"event": push().context()}
    [run] = compile_matrix(load_operation(source), context=context, globals_=GLOBALS)

    assert run.command[-1] == "--tag=small"
    assert run.params["tag"] == "small"
