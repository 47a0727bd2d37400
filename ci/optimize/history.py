"""The observations a search has made so far, read and checked: the only state a suggestion uses.

An observation is `{"params": {...}, "value": float | None, "status": "succeeded" | "failed" |
"running"}`. A succeeded observation without a finite value (the metric was never reported, or
is NaN) counts as failed: it ran, and it says nothing good about its point.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from schemas.spec_early_stopping import V1OptimizationMetric

Status = Literal["succeeded", "failed", "running"]
STATUSES: tuple[Status, ...] = ("succeeded", "failed", "running")


@dataclass(frozen=True)
class Trial:
    """One observation, in the order the trials were suggested."""

    params: Mapping[str, Any]
    value: float | None
    status: Status

    @property
    def done(self) -> bool:
        return self.status == "succeeded"

    @property
    def pending(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class History:
    trials: tuple[Trial, ...]

    @property
    def succeeded(self) -> list[Trial]:
        return [t for t in self.trials if t.done]

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "failed"]

    @property
    def pending(self) -> list[Trial]:
        return [t for t in self.trials if t.pending]

    def keys(self, names: Iterable[str] | None = None) -> set[Key]:
        """The points already taken, whatever their status: none is suggested again."""
        wanted = sorted(names) if names is not None else None
        found: set[Key] = set()
        for trial in self.trials:
            params = trial.params
            # key()'s common case inline: a search rebuilds this set from every trial per call.
            point = tuple([(name, params.get(name)) for name in (wanted or sorted(params))])
            try:
                found.add(point)
            except TypeError:  # a list value: key() freezes it
                found.add(key(params, wanted))
        return found


def read(observations: list[dict[str, Any]]) -> History:
    """The observations as trials; a malformed one is refused, naming its index and field."""
    if not isinstance(observations, list):
        raise ValueError(f"observations: expected a list, got {type(observations).__name__}")
    return History(tuple(_trial(index, item) for index, item in enumerate(observations)))


def _trial(index: int, item: Any) -> Trial:
    where = f"observations[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(item).__name__}")
    params, value, status = item.get("params"), item.get("value"), item.get("status")
    if not isinstance(params, dict):
        raise ValueError(f"{where}.params: expected a mapping, got {params!r}")
    if status not in STATUSES:
        raise ValueError(f"{where}.status: expected one of {', '.join(STATUSES)}, got {status!r}")
    if value is not None and type(value) not in (int, float) and not _number(value):
        raise ValueError(f"{where}.value: expected a number or null, got {value!r}")
    known: Status = "running" if status == "running" else "failed"
    if status == "succeeded" and value is not None and math.isfinite(value):
        known = "succeeded"
    return Trial(params, None if value is None else float(value), known)


Key = tuple[tuple[str, Any], ...]


def _number(value: Any) -> bool:
    # numpy floats and the like pass; a bool is no metric value.
    return not isinstance(value, bool) and isinstance(value, numbers.Real)


def key(params: Mapping[str, Any], names: Iterable[str] | None = None) -> Key:
    """A hashable form of a point, equal for equal params after a JSON round trip (a list and
    a tuple are one value)."""
    wanted = sorted(params) if names is None else sorted(names)
    found = tuple(zip(wanted, map(params.get, wanted), strict=True))
    try:
        hash(found)
    except TypeError:  # a list value: frozen, so that it hashes and equals its tuple twin
        return tuple((name, _frozen(params.get(name))) for name in wanted)
    return found


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


def loss(value: float, metric: V1OptimizationMetric | None) -> float:
    """What the optimizers minimize: a maximized metric is negated."""
    if metric is not None and metric.optimization == "maximize":
        return -value
    return value
