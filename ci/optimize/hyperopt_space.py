"""A search's params as hyperopt's variables: one per param, or per item of a distribution
drawn with `size`; a listable param's values known to hyperopt by their index (as
polyaxon/hypertune's matrix/hyperopt.py builds them), and the way back to param values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperopt import hp

from ci.compile import matrix as expansion
from schemas.spec_hp import HpKind, V1HpPChoice, is_finite


@dataclass(frozen=True)
class Label:
    """One hyperopt variable: a param, or one item of a distribution drawn with `size`."""

    label: str
    name: str
    item: int | None
    param: HpKind
    # A listable param's values, which hyperopt knows by their index.
    options: tuple[Any, ...] = ()
    positions: dict[Any, int] = field(default_factory=dict)

    @property
    def indexed(self) -> bool:
        return bool(self.options)

    def position(self, value: Any) -> int | None:
        try:
            if self.positions:
                return self.positions.get(value)
        except TypeError:  # an unhashable value, such as a list
            pass
        return self.options.index(value) if value in self.options else None


def labels(params: Mapping[str, HpKind]) -> list[Label]:
    found: list[Label] = []
    for name, param in params.items():
        count = getattr(param.value, "size", None)
        if count and not param.DISCRETE:
            found += [Label(f"{name}[{i}]", name, i, param) for i in range(count)]
        elif is_finite(param) or isinstance(param, V1HpPChoice):
            options = tuple(expansion.values(param))
            positions: dict[Any, int] = {}
            for index, option in enumerate(options):
                try:
                    positions.setdefault(option, index)
                except TypeError:
                    positions = {}
                    break
            found.append(Label(name, name, None, param, options, positions))
        else:
            found.append(Label(name, name, None, param))
    return found


def expression(label: Label) -> Any:
    """The hyperopt expression of one variable (polyaxon/hypertune's matrix/hyperopt.py)."""
    param, v, name = label.param, label.param.value, label.label
    if isinstance(param, V1HpPChoice):
        total = sum(p for _, p in v)
        return hp.pchoice(name, [(p / total, index) for index, (_, p) in enumerate(v)])
    if is_finite(param):
        return hp.choice(name, list(range(expansion.size(param))))
    kinds: dict[str, Callable[[], Any]] = {
        "uniform": lambda: hp.uniform(name, v.low, v.high),
        "quniform": lambda: hp.quniform(name, v.low, v.high, v.q),
        "loguniform": lambda: hp.loguniform(name, v.low, v.high),
        "qloguniform": lambda: hp.qloguniform(name, v.low, v.high, v.q),
        "normal": lambda: hp.normal(name, v.loc, v.scale),
        "qnormal": lambda: hp.qnormal(name, v.loc, v.scale, v.q),
        "lognormal": lambda: hp.lognormal(name, v.loc, v.scale),
        "qlognormal": lambda: hp.qlognormal(name, v.loc, v.scale, v.q),
    }
    return kinds[param.kind]()


def encode(label: Label, params: Any, index: int) -> Any:
    if label.name not in params:
        raise ValueError(f"observations[{index}].params: {label.name!r} missing")
    value = params[label.name] if label.item is None else params[label.name][label.item]
    if not label.indexed:
        return float(value)
    found = label.position(value)
    if found is not None:
        return found
    options = label.options
    if isinstance(value, int | float) and all(isinstance(o, int | float) for o in options):
        return min(range(len(options)), key=lambda i: abs(options[i] - value))
    raise ValueError(
        f"observations[{index}].params.{label.name}: {value!r} is not one of {list(options)}"
    )


def decode(found: list[Label], vals: dict[str, list[Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for label in found:
        raw = vals[label.label][0]
        value = label.options[int(raw)] if label.indexed else expansion.tidy(float(raw))
        if label.item is None:
            params[label.name] = value
        else:
            params.setdefault(label.name, []).append(value)
    return params
