"""A bayesian search's params as coordinates of the unit cube, and back.

As polyaxon/hypertune's search_managers/bayesian_optimization/space.py: a choice with a
non-numeric value is one-hot (one coordinate per value, the largest wins); the other listable
kinds are ordered, so they take one coordinate on the index of their values (a numeric choice
sorted first), rounded back to the nearest value; a uniform takes one coordinate per drawn item.
Working in the unit cube keeps one length scale meaningful for every param.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ci.compile import matrix as expansion
from schemas.spec_hp import HpKind, V1HpChoice


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Axis:
    """The coordinates of one param."""

    name: str
    kind: str  # "uniform", "ordinal" or "onehot"
    width: int
    options: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 1.0
    items: int | None = None

    def encode(self, value: Any, where: str) -> list[float]:
        if self.kind == "uniform":
            drawn = value if self.items else [value]
            return [(float(v) - self.low) / (self.high - self.low) for v in drawn]
        index = self._index(value, where)
        if self.kind == "onehot":
            return [1.0 if i == index else 0.0 for i in range(self.width)]
        return [index / (len(self.options) - 1) if len(self.options) > 1 else 0.5]

    def decode(self, x: np.ndarray) -> Any:
        if self.kind == "uniform":
            drawn = [expansion.tidy(self.low + float(v) * (self.high - self.low)) for v in x]
            return drawn if self.items else drawn[0]
        if self.kind == "onehot":
            return self.options[int(np.argmax(x))]
        return self.options[int(round(float(x[0]) * (len(self.options) - 1)))]

    def _index(self, value: Any, where: str) -> int:
        if value in self.options:
            return self.options.index(value)
        if _numeric(value) and all(_numeric(o) for o in self.options):
            return min(range(len(self.options)), key=lambda i: abs(self.options[i] - value))
        raise ValueError(f"{where}.{self.name}: {value!r} is not one of {list(self.options)}")


def axis(name: str, param: HpKind) -> Axis:
    if param.UNIFORM:
        items = getattr(param.value, "size", None)
        low, high = float(param.value.low), float(param.value.high)
        return Axis(name, "uniform", items or 1, low=low, high=high, items=items)
    options = expansion.values(param)
    if isinstance(param, V1HpChoice):
        if not all(_numeric(o) for o in options):
            return Axis(name, "onehot", len(options), tuple(options))
        options = sorted(set(options))
    return Axis(name, "ordinal", 1, tuple(options))


class Cube:
    """The unit cube of a search's params."""

    def __init__(self, params: Mapping[str, HpKind]) -> None:
        self.axes = [axis(name, param) for name, param in params.items()]
        self.width = sum(a.width for a in self.axes)

    def encode(self, params: Mapping[str, Any], where: str = "params") -> np.ndarray:
        found: list[float] = []
        for a in self.axes:
            if a.name not in params:
                raise ValueError(f"{where}: {a.name!r} missing")
            found += a.encode(params[a.name], where)
        return np.asarray(found, dtype=float)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        params: dict[str, Any] = {}
        start = 0
        for a in self.axes:
            params[a.name] = a.decode(x[start : start + a.width])
            start += a.width
        return params
