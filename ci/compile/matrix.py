"""Expand a grid, random or mapping matrix into the params of each run; pure and seeded.

Listable kinds are indexed lazily, so a large range costs nothing until a run is picked:
range (stop excluded), daterange and datetimerange (stop excluded), linspace, logspace and
geomspace (both ends included), choice and pchoice. A random search draws `numRuns` distinct
combinations with `random.Random(seed)`, so the same seed always gives the same runs; when every
param is listable, numRuns is capped at the number of combinations. The other matrix kinds
(hyperopt, bayes, hyperband, iterative) choose their runs from results, one round at a time.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

from schemas.spec_hp import (
    HpKind,
    V1HpChoice,
    V1HpDateRange,
    V1HpDateTimeRange,
    V1HpGeomSpace,
    V1HpLinSpace,
    V1HpLogSpace,
    V1HpPChoice,
    V1HpRange,
    is_finite,
)
from schemas.spec_matrix import V1GridSearch, V1Mapping, V1RandomSearch

# More runs than this from one matrix is a mistake more often than a plan: numRuns says so.
MAX_RUNS = 10_000
DEFAULT_SEED = 0
EXPANDABLE = ("grid", "random", "mapping")


class MatrixTooLarge(ValueError):
    """A matrix would start more than MAX_RUNS runs."""


def tidy(value: float) -> float:
    """A float without the noise of its arithmetic: 0.1 * 3 gives 0.3, not 0.30000000000000004."""
    return float(f"{value:.15g}")


def size(param: HpKind) -> int:
    """How many values a listable param has."""
    if isinstance(param, V1HpChoice | V1HpPChoice):
        return len(param.value)
    if isinstance(param, V1HpRange):
        v = param.value
        return _count(v.stop - v.start, v.step)
    if isinstance(param, V1HpLinSpace | V1HpLogSpace | V1HpGeomSpace):
        return param.value.num
    if isinstance(param, V1HpDateRange):
        return math.ceil((param.value.stop - param.value.start).days / param.value.step)
    if isinstance(param, V1HpDateTimeRange):
        seconds = (param.value.stop - param.value.start).total_seconds()
        return _count(seconds, param.value.step)
    raise TypeError(f"{param.kind} is a distribution: its values cannot be listed")


def _count(span: float, step: float) -> int:
    """How many steps fit in [0, span): a last step that lands on span within float error is
    the stop itself, which a range excludes."""
    steps = span / step
    return max(1, math.ceil(steps - 1e-9 * max(1.0, abs(steps))))


def value_at(param: HpKind, index: int) -> Any:
    """The `index`-th value of a listable param (0 <= index < size(param))."""
    if isinstance(param, V1HpChoice):
        return param.value[index]
    if isinstance(param, V1HpPChoice):
        return param.value[index][0]
    if isinstance(param, V1HpRange):
        v = param.value
        found = v.start + index * v.step
        return found if isinstance(found, int) else tidy(found)
    if isinstance(param, V1HpDateRange):
        day = param.value.start + datetime.timedelta(days=index * param.value.step)
        return day.isoformat()
    if isinstance(param, V1HpDateTimeRange):
        moment = param.value.start + datetime.timedelta(seconds=index * param.value.step)
        return moment.isoformat()
    return _spaced(param, index)


def _spaced(param: HpKind, index: int) -> float:
    assert isinstance(param, V1HpLinSpace | V1HpLogSpace | V1HpGeomSpace)
    v = param.value
    if index == v.num - 1 and v.num > 1:
        # The last value is stop itself, not a sum that rounds near it.
        exponent = v.stop
    else:
        exponent = v.start + (v.stop - v.start) * (index / (v.num - 1) if v.num > 1 else 0)
    if isinstance(param, V1HpGeomSpace):
        fraction = (exponent - v.start) / (v.stop - v.start)
        return tidy(v.start * (v.stop / v.start) ** fraction)
    if isinstance(param, V1HpLogSpace):
        base = getattr(v, "base", None)
        return tidy((base if base is not None else 10) ** exponent)
    return tidy(exponent)


def values(param: HpKind) -> list[Any]:
    """Every value of a listable param, in order."""
    return [value_at(param, index) for index in range(size(param))]


def _quantize(value: float, q: float | None) -> float:
    return value if q is None else tidy(round(value / q) * q)


def sample(param: HpKind, rng: random.Random) -> Any:
    """One value drawn from any param kind; `size` in a distribution draws a list."""
    if isinstance(param, V1HpPChoice):
        choices, weights = zip(*param.value, strict=True)
        return rng.choices(choices, weights=weights)[0]
    if is_finite(param):
        return value_at(param, rng.randrange(size(param)))
    count = getattr(param.value, "size", None)
    if count:
        return [_draw(param, rng) for _ in range(count)]
    return _draw(param, rng)


def _draw(param: HpKind, rng: random.Random) -> float:
    v: Any = param.value
    q = getattr(v, "q", None)
    if param.kind in ("uniform", "quniform"):
        return _quantize(rng.uniform(v.low, v.high), q)
    if param.kind in ("loguniform", "qloguniform"):
        return _quantize(math.exp(rng.uniform(v.low, v.high)), q)
    if param.kind in ("normal", "qnormal"):
        return _quantize(rng.gauss(v.loc, v.scale), q)
    return _quantize(math.exp(rng.gauss(v.loc, v.scale)), q)


def space_size(params: Mapping[str, HpKind]) -> float:
    """How many distinct combinations the params make (inf when one is a distribution)."""
    if not all(p.DISCRETE for p in params.values()):
        return math.inf
    return math.prod(size(p) for p in params.values())


def _combination(params: Mapping[str, HpKind], index: int) -> dict[str, Any]:
    """The `index`-th combination, the last param varying fastest (as itertools.product)."""
    found: dict[str, Any] = {}
    for name, param in reversed(list(params.items())):
        index, own = divmod(index, size(param))
        found[name] = value_at(param, own)
    return {name: found[name] for name in params}


def grid(matrix: V1GridSearch) -> list[dict[str, Any]]:
    """Every combination, in order, up to numRuns."""
    total = int(space_size(matrix.params))
    wanted = min(total, matrix.num_runs or total)
    if wanted > MAX_RUNS:
        raise MatrixTooLarge(
            f"the grid has {total} combinations; set numRuns to {MAX_RUNS} or less"
        )
    return [_combination(matrix.params, index) for index in range(wanted)]


def random_search(matrix: V1RandomSearch, seed: int | None = None) -> list[dict[str, Any]]:
    """numRuns distinct combinations drawn with the matrix's seed (else `seed`)."""
    rng = random.Random(matrix.seed if matrix.seed is not None else _seed(seed))
    total = space_size(matrix.params)
    wanted = int(min(matrix.num_runs, total))
    if wanted > MAX_RUNS:
        raise MatrixTooLarge(f"numRuns is {wanted}; at most {MAX_RUNS} runs come from one matrix")
    found: dict[str, dict[str, Any]] = {}
    for _ in range(20 * wanted + 1000):
        if len(found) == wanted:
            break
        combination = {name: sample(param, rng) for name, param in matrix.params.items()}
        found.setdefault(repr(sorted(combination.items())), combination)
    if len(found) < wanted and total < math.inf:
        # A skewed pchoice can make the last combinations rare; take them in order instead.
        for combination in _each(matrix.params, int(total)):
            if len(found) == wanted:
                break
            found.setdefault(repr(sorted(combination.items())), combination)
    return list(found.values())


def _each(params: Mapping[str, HpKind], total: int) -> Iterator[dict[str, Any]]:
    return (_combination(params, index) for index in range(total))


def _seed(seed: int | None) -> int:
    return DEFAULT_SEED if seed is None else seed


def mapping(matrix: V1Mapping) -> list[dict[str, Any]]:
    """The listed params, one run each."""
    if len(matrix.values) > MAX_RUNS:
        raise MatrixTooLarge(f"the mapping lists {len(matrix.values)} runs; at most {MAX_RUNS}")
    return [dict(values) for values in matrix.values]


def expand(matrix: Any, *, seed: int | None = None) -> list[dict[str, Any]]:
    """The params of each run of a grid, random or mapping matrix."""
    if isinstance(matrix, V1GridSearch):
        return grid(matrix)
    if isinstance(matrix, V1RandomSearch):
        return random_search(matrix, seed)
    if isinstance(matrix, V1Mapping):
        return mapping(matrix)
    raise ValueError(f"a {matrix.kind} matrix picks its runs from results, round by round")


def draw_one(matrix: Any, seed: int | None = None) -> dict[str, Any]:
    """One combination from any matrix's params (the first run of a grid or a mapping)."""
    if isinstance(matrix, V1GridSearch | V1Mapping):
        return expand(matrix)[0]
    rng = random.Random(getattr(matrix, "seed", None) or _seed(seed))
    return {name: sample(param, rng) for name, param in (matrix.params or {}).items()}


def input_errors(matrix: Any, inputs: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, reason) for each matrix param whose kind cannot give values of its input's type
    (a range for a str input, a daterange for an int...). A param no input declares is a
    param of the run's context, as in Polyaxon, so it is no error."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for name, param in (getattr(matrix, "params", None) or {}).items():
        io = inputs.get(name)
        if (
            io is not None
            and param.INPUT_TYPES
            and io.type not in (None, "any", *param.INPUT_TYPES)
        ):
            wanted = " or ".join(param.INPUT_TYPES)
            reason = f"{param.kind} gives {wanted} values, but input {name!r} has type {io.type}"
            found.append((("matrix", "params", name, "kind"), reason))
    return found
