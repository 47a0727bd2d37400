"""What a running run's progress says on one line: how far, its figures, and the ETA."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ci.reporting.eta import Point, eta_seconds, spoken

FIGURES = 3  # a line shows this many of the job's figures (or metrics), the first ones
MAX_FIGURE = 40
# The line goes into markdown, Slack's mrkdwn and plain text alike: the job's names keep
# letters, digits and a few marks, never `*`, `<`, `[`, `@`, a backtick or a URL's colon.
_UNSAFE = re.compile(r"[^\w .%+/-]")


def line(progress: dict[str, Any] | None, metrics: dict[str, dict[str, Any]]) -> str:
    """`epoch 3/10 · loss 0.21 · ETA 4 min` from what `ci.runs.tracking.set_progress` keeps;
    for a run that never said its progress, `step 120 · loss 0.21` from its metric series'
    last points (`ci.runs.metrics.summary`); empty when it said neither."""
    if progress:
        return _from_progress(progress)
    if not metrics:
        return ""
    step = max(int(found["step"]) for found in metrics.values())
    shown = [(name, found["value"]) for name, found in sorted(metrics.items())]
    return " · ".join([f"step {step}", *_figures(shown)])


def _from_progress(progress: dict[str, Any]) -> str:
    current, total, unit = progress.get("current"), progress.get("total"), progress.get("unit")
    fraction = float(progress.get("fraction") or 0.0)
    if current is not None and total is not None:
        parts = [f"{_clip(unit or 'step')} {_number(current)}/{_number(total)}"]
    else:
        parts = [f"{fraction:.0%}"]
    parts += _figures(list((progress.get("figures") or {}).items()))
    left = eta_seconds(_point(progress.get("since")), _point(progress), 1.0)
    if left is not None and fraction < 1:
        parts.append(f"ETA {spoken(left)}")
    return " · ".join(parts)


def _point(found: Any) -> Point | None:
    """The fraction done at a moment, from a progress (or its `since`) as kept."""
    if not isinstance(found, dict) or found.get("at") is None:
        return None
    try:
        at = datetime.fromisoformat(str(found["at"])).timestamp()
        return Point(at, float(found["fraction"]))
    except (KeyError, TypeError, ValueError):
        return None


def _figures(items: list[tuple[str, Any]]) -> list[str]:
    return [f"{_clip(name)} {_number(value)}" for name, value in items[:FIGURES]]


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _clip(str(value))
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"


def _clip(text: str) -> str:
    """The job's words, kept to what no target can read as markup, a link or a mention."""
    text = " ".join(_UNSAFE.sub("", text).split())
    return text if len(text) <= MAX_FIGURE else text[: MAX_FIGURE - 1] + "…"
