"""The 16 param kinds, one of each, with what a value drawn from each must satisfy."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any


def multiple_of(q: float) -> Callable[[Any], bool]:
    return lambda v: math.isclose(v / q, round(v / q), abs_tol=1e-9)


def days(start: str, stop: str, step: int) -> set[str]:
    first, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(stop)
    count = (last - first).days
    return {(first + datetime.timedelta(days=d)).isoformat() for d in range(0, count, step)}


def seconds(start: str, stop: str, step: int) -> set[str]:
    first, last = datetime.datetime.fromisoformat(start), datetime.datetime.fromisoformat(stop)
    count = int((last - first).total_seconds())
    return {(first + datetime.timedelta(seconds=s)).isoformat() for s in range(0, count, step)}


KINDS: dict[str, tuple[dict[str, Any], Callable[[Any], bool]]] = {
    "choice": (
        {"kind": "choice", "value": ["adam", "sgd", 0.1]},
        lambda v: v in ("adam", "sgd", 0.1),
    ),
    "pchoice": (
        {"kind": "pchoice", "value": [["relu", 0.2], ["tanh", 0.8]]},
        lambda v: v in ("relu", "tanh"),
    ),
    "range": ({"kind": "range", "value": [1, 10, 2]}, lambda v: v in (1, 3, 5, 7, 9)),
    "daterange": (
        {"kind": "daterange", "value": ["2021-01-01", "2021-02-01", 7]},
        lambda v: v in days("2021-01-01", "2021-02-01", 7),
    ),
    "datetimerange": (
        {"kind": "datetimerange", "value": ["2021-01-01T00:00:00", "2021-01-01T01:00:00", 900]},
        lambda v: v in seconds("2021-01-01T00:00:00", "2021-01-01T01:00:00", 900),
    ),
    "linspace": ({"kind": "linspace", "value": [0, 1, 5]}, lambda v: v in (0, 0.25, 0.5, 0.75, 1)),
    "logspace": ({"kind": "logspace", "value": [0, 2, 3]}, lambda v: v in (1, 10, 100)),
    "geomspace": ({"kind": "geomspace", "value": [1, 8, 4]}, lambda v: v in (1, 2, 4, 8)),
    "uniform": ({"kind": "uniform", "value": [-1, 1]}, lambda v: -1 <= v <= 1),
    "quniform": (
        {"kind": "quniform", "value": [0, 10, 2.5]},
        lambda v: -1.25 <= v <= 11.25 and multiple_of(2.5)(v),
    ),
    "loguniform": (
        {"kind": "loguniform", "value": [-3, 0]},
        lambda v: math.exp(-3) - 1e-12 <= v <= 1 + 1e-12,
    ),
    "qloguniform": (
        {"kind": "qloguniform", "value": [0, 3, 0.5]},
        lambda v: 1 <= v <= math.exp(3) + 0.25 and multiple_of(0.5)(v),
    ),
    "normal": ({"kind": "normal", "value": [0, 1]}, lambda v: isinstance(v, float)),
    "qnormal": ({"kind": "qnormal", "value": [0, 1, 0.5]}, multiple_of(0.5)),
    "lognormal": ({"kind": "lognormal", "value": [0, 1]}, lambda v: v > 0),
    "qlognormal": (
        {"kind": "qlognormal", "value": [1, 0.5, 0.5]},
        lambda v: v >= 0 and multiple_of(0.5)(v),
    ),
}
