"""Kubernetes resource quantities ("500m", "4Gi", "1e3") as numbers: CPU cores, memory bytes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES: dict[str, Decimal | int] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkKMGTPE])?$")
_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def parse(value: Any) -> Decimal:
    """A quantity as a number; QuantityError names the value and the expected form."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity (e.g. 2, 500m, 4Gi)")
    if isinstance(value, int | float):
        return Decimal(str(value))
    found = _QUANTITY.match(str(value).strip())
    if found is None:
        raise QuantityError(f"{value!r} is not a quantity (e.g. 2, 500m, 4Gi)")
    try:
        number = Decimal(found.group(1))
    except InvalidOperation:
        raise QuantityError(f"{value!r} is not a quantity (e.g. 2, 500m, 4Gi)") from None
    suffix = found.group(2)
    return number * Decimal(_SUFFIXES[suffix]) if suffix else number


def cpu(value: Any) -> float:
    """CPU cores ("500m" is 0.5)."""
    return float(parse(value))


def memory(value: Any) -> int:
    """Bytes ("1Gi" is 1073741824), rounded up as Kubernetes rounds a fraction of a byte."""
    number = parse(value)
    return int(number.to_integral_value(rounding="ROUND_CEILING"))


def bytes_text(value: int) -> str:
    """Bytes as a person reads them: the largest binary unit that divides them, e.g. 16Gi."""
    for suffix, size in _BINARY:
        if value and value % size == 0:
            return f"{value // size}{suffix}"
    return str(value)
