"""The 16 hyperparameter kinds of a matrix (V1HpChoice ... V1HpQLogNormal) and their forms.

Each kind takes its `value` as a list (`[1, 10, 2]`), a mapping (`{start: 1, stop: 10, step: 2}`)
or, for the numeric kinds, a string (`"1:10:2"`). Axon also reads a whole param written as one
string, `kind:value`: `"choice:adam|sgd"`, `"pchoice:a:0.3|b:0.7"`, `"range:1:10:2"`,
`"linspace:0.1:1:5"`, `"uniform:0:1"`. Quote such strings: YAML 1.1 reads an unquoted `1:10:2`
as the base-60 integer 4202, which is refused with a hint to quote it.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

import yaml
from pydantic import BeforeValidator, Field, model_validator

from schemas.spec_base import SpecModel, located_error

Number = int | float


def _number(text: str) -> Number:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _base60(value: int) -> str:
    digits: list[str] = []
    while value:
        value, digit = divmod(value, 60)
        digits.append(str(digit))
    return ":".join(reversed(digits)) or "0"


def _form(
    keys: tuple[str, ...], optional: tuple[str, ...], text: bool, model: type
) -> BeforeValidator:
    """A reader of the list, mapping and (when `text`) "a:b:c" forms into a mapping."""
    every = keys + optional
    shape = ":".join(keys)

    def read(value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and text and value >= 60:
            raise ValueError(
                f"got the number {value}: YAML 1.1 reads an unquoted {_base60(value)} as a "
                f'base-60 integer; quote it: "{_base60(value)}"'
            )
        if isinstance(value, str) and text:
            try:
                value = [_number(part.strip()) for part in value.split(":")]
            except ValueError:
                raise ValueError(f"expected numbers as {shape}, got {value!r}") from None
        if not isinstance(value, list):
            forms = f"a list [{', '.join(keys)}]" + (
                f', a mapping or "{shape}"' if text else " or a mapping"
            )
            raise ValueError(f"expected {forms}; got {value!r}")
        if len(value) not in (len(keys), len(every)):
            sizes = " or ".join(sorted({str(len(keys)), str(len(every))}))
            raise ValueError(f"expected {sizes} values ({', '.join(every)}), got {len(value)}")
        return dict(zip(every, value, strict=False))

    written = model | list[Any] | str if text else model | list[Any]
    return BeforeValidator(read, json_schema_input_type=written)


class HpKind(SpecModel):
    """What every kind tells the matrix: whether it can be listed, and what input types fit."""

    DISCRETE: ClassVar[bool] = True
    DISTRIBUTION: ClassVar[bool] = False
    UNIFORM: ClassVar[bool] = False
    INPUT_TYPES: ClassVar[tuple[str, ...]] = ("int", "float")
    kind: str
    value: Any


class _Bounds(SpecModel):
    def _order(self, low: str, high: str) -> None:
        a, b = getattr(self, low), getattr(self, high)
        if not a < b:
            raise located_error((), f"{high} ({b}) must be greater than {low} ({a})")

    def _positive(self, name: str) -> None:
        if getattr(self, name) is not None and not getattr(self, name) > 0:
            raise located_error((), f"{name} must be greater than 0, got {getattr(self, name)}")


class RangeValue(_Bounds):
    start: Number
    stop: Number
    step: Number

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self._order("start", "stop")
        self._positive("step")
        return self


class DateRangeValue(_Bounds):
    start: datetime.date
    stop: datetime.date
    step: int

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self._order("start", "stop")
        self._positive("step")
        return self


class DateTimeRangeValue(_Bounds):
    start: datetime.datetime
    stop: datetime.datetime
    step: Number

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self._order("start", "stop")
        self._positive("step")
        return self


class SpaceValue(_Bounds):
    start: Number
    stop: Number
    num: int

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self._order("start", "stop")
        self._positive("num")
        return self


class LogSpaceValue(SpaceValue):
    base: Number | None = None


class UniformValue(_Bounds):
    low: Number
    high: Number
    size: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self._order("low", "high")
        self._positive("size")
        return self


class QUniformValue(UniformValue):
    q: Number

    @model_validator(mode="after")
    def _q_positive(self) -> Self:
        self._positive("q")
        return self


class NormalValue(_Bounds):
    loc: Number
    scale: Number
    size: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self._positive("scale")
        self._positive("size")
        return self


class QNormalValue(NormalValue):
    q: Number

    @model_validator(mode="after")
    def _q_positive(self) -> Self:
        self._positive("q")
        return self


_RANGE = _form(("start", "stop", "step"), (), True, RangeValue)
_DATES = _form(("start", "stop", "step"), (), False, DateRangeValue)
_TIMES = _form(("start", "stop", "step"), (), False, DateTimeRangeValue)
_SPACE = _form(("start", "stop", "num"), (), True, SpaceValue)
_LOGSPACE = _form(("start", "stop", "num"), ("base",), True, LogSpaceValue)
_UNIFORM = _form(("low", "high"), ("size",), True, UniformValue)
_QUNIFORM = _form(("low", "high", "q"), ("size",), True, QUniformValue)
_NORMAL = _form(("loc", "scale"), ("size",), True, NormalValue)
_QNORMAL = _form(("loc", "scale", "q"), ("size",), True, QNormalValue)


class V1HpChoice(HpKind):
    """Pick one of the listed values: `{kind: choice, value: [0.1, 0.2]}`."""

    INPUT_TYPES: ClassVar[tuple[str, ...]] = ()
    kind: Literal["choice"] = "choice"
    value: Annotated[list[Any], Field(min_length=1)]


class V1HpPChoice(HpKind):
    """Pick a value with a probability: `{kind: pchoice, value: [[a, 0.3], [b, 0.7]]}`."""

    DISTRIBUTION: ClassVar[bool] = True
    INPUT_TYPES: ClassVar[tuple[str, ...]] = ()
    kind: Literal["pchoice"] = "pchoice"
    value: Annotated[list[tuple[Any, float]], Field(min_length=1)]

    @model_validator(mode="after")
    def _probabilities(self) -> Self:
        for index, (_, p) in enumerate(self.value):
            if not 0 < p <= 1:
                raise located_error(("value", index), f"probability {p} is not in (0, 1]")
        total = sum(p for _, p in self.value)
        if total > 1 + 1e-9:
            raise located_error(("value",), f"probabilities add up to {total:g}, more than 1")
        return self


class V1HpRange(HpKind):
    """Values from start to stop (excluded) by step: `[1, 10, 2]` → 1, 3, 5, 7, 9."""

    kind: Literal["range"] = "range"
    value: Annotated[RangeValue, _RANGE]


class V1HpDateRange(HpKind):
    """Dates from start to stop (excluded), every `step` days: `[2021-01-01, 2021-02-01, 7]`."""

    INPUT_TYPES: ClassVar[tuple[str, ...]] = ("date",)
    kind: Literal["daterange"] = "daterange"
    value: Annotated[DateRangeValue, _DATES]


class V1HpDateTimeRange(HpKind):
    """Times from start to stop (excluded), every `step` seconds."""

    INPUT_TYPES: ClassVar[tuple[str, ...]] = ("datetime",)
    kind: Literal["datetimerange"] = "datetimerange"
    value: Annotated[DateTimeRangeValue, _TIMES]


class V1HpLinSpace(HpKind):
    """`num` values evenly spaced from start to stop, both included."""

    kind: Literal["linspace"] = "linspace"
    value: Annotated[SpaceValue, _SPACE]


class V1HpLogSpace(HpKind):
    """`num` values evenly spaced on a log scale: base ** linspace(start, stop, num)."""

    kind: Literal["logspace"] = "logspace"
    value: Annotated[LogSpaceValue, _LOGSPACE]


class V1HpGeomSpace(HpKind):
    """`num` values from start to stop (included) in a geometric progression."""

    kind: Literal["geomspace"] = "geomspace"
    value: Annotated[SpaceValue, _SPACE]

    @model_validator(mode="after")
    def _same_sign(self) -> Self:
        if self.value.start * self.value.stop <= 0:
            raise located_error(("value",), "start and stop must be non-zero and of one sign")
        return self


class _Distribution(HpKind):
    DISCRETE: ClassVar[bool] = False
    DISTRIBUTION: ClassVar[bool] = True


class V1HpUniform(_Distribution):
    """A value drawn uniformly from [low, high)."""

    UNIFORM: ClassVar[bool] = True
    kind: Literal["uniform"] = "uniform"
    value: Annotated[UniformValue, _UNIFORM]


class V1HpQUniform(_Distribution):
    """round(uniform(low, high) / q) * q."""

    kind: Literal["quniform"] = "quniform"
    value: Annotated[QUniformValue, _QUNIFORM]


class V1HpLogUniform(_Distribution):
    """exp(uniform(low, high)): a value whose logarithm is uniform."""

    kind: Literal["loguniform"] = "loguniform"
    value: Annotated[UniformValue, _UNIFORM]


class V1HpQLogUniform(_Distribution):
    """round(exp(uniform(low, high)) / q) * q."""

    kind: Literal["qloguniform"] = "qloguniform"
    value: Annotated[QUniformValue, _QUNIFORM]


class V1HpNormal(_Distribution):
    """A value drawn from a normal distribution of mean loc and deviation scale."""

    kind: Literal["normal"] = "normal"
    value: Annotated[NormalValue, _NORMAL]


class V1HpQNormal(_Distribution):
    """round(normal(loc, scale) / q) * q."""

    kind: Literal["qnormal"] = "qnormal"
    value: Annotated[QNormalValue, _QNORMAL]


class V1HpLogNormal(_Distribution):
    """exp(normal(loc, scale))."""

    kind: Literal["lognormal"] = "lognormal"
    value: Annotated[NormalValue, _NORMAL]


class V1HpQLogNormal(_Distribution):
    """round(exp(normal(loc, scale)) / q) * q."""

    kind: Literal["qlognormal"] = "qlognormal"
    value: Annotated[QNormalValue, _QNORMAL]


HP_KINDS: dict[str, type[HpKind]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        V1HpChoice, V1HpPChoice, V1HpRange, V1HpDateRange, V1HpDateTimeRange, V1HpLinSpace,
        V1HpLogSpace, V1HpGeomSpace, V1HpUniform, V1HpQUniform, V1HpLogUniform, V1HpQLogUniform,
        V1HpNormal, V1HpQNormal, V1HpLogNormal, V1HpQLogNormal,
    )
}  # fmt: skip


def _scalar(text: str) -> Any:
    # Each choice is typed as YAML would type it: "0.1" is a float, "adam" a string.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def read_shorthand(value: Any) -> Any:
    """`"choice:a|b"` → `{kind: choice, value: [a, b]}`; anything else is left as it is."""
    if not isinstance(value, str) or ":" not in value:
        return value
    kind, _, rest = value.partition(":")
    kind = kind.strip()
    if kind not in HP_KINDS:
        known = ", ".join(repr(k) for k in HP_KINDS)
        raise ValueError(f"unknown kind {kind!r} in {value!r}; expected one of: {known}")
    if kind == "choice":
        return {"kind": kind, "value": [_scalar(part) for part in rest.split("|")]}
    if kind == "pchoice":
        pairs = [part.rpartition(":") for part in rest.split("|")]
        if any(not sep for _, sep, _ in pairs):
            raise ValueError(f"expected pchoice:value:probability|..., got {value!r}")
        return {"kind": kind, "value": [[_scalar(v), _scalar(p)] for v, _, p in pairs]}
    if kind in ("daterange", "datetimerange"):
        return {"kind": kind, "value": rest.split(":") if kind == "daterange" else rest}
    return {"kind": kind, "value": rest}


V1HpParam = Annotated[
    V1HpChoice | V1HpPChoice | V1HpRange | V1HpDateRange | V1HpDateTimeRange | V1HpLinSpace
    | V1HpLogSpace | V1HpGeomSpace | V1HpUniform | V1HpQUniform | V1HpLogUniform
    | V1HpQLogUniform | V1HpNormal | V1HpQNormal | V1HpLogNormal | V1HpQLogNormal,
    Field(discriminator="kind"),
    BeforeValidator(read_shorthand),
]  # fmt: skip


def is_finite(param: HpKind) -> bool:
    """True when every value of the param can be listed (the grid kinds)."""
    return param.DISCRETE and not param.DISTRIBUTION
