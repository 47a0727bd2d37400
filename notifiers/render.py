"""The words every target shares: a run's headline, Polyaxon's details text, colours, values."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from notifiers.base import Comparison, OpLine, Report, format_duration
from schemas.status import DONE, RunStatus

MAX_VALUE = 200

# Polyaxon's StatusColor: green for success, red for failure or a stop, grey for other final
# statuses, yellow while the run is under way.
GREEN, RED, GREY, YELLOW = "#1aaa55", "#aa310f", "#485563", "#aa9e4a"
_RED = frozenset({RunStatus.FAILED, RunStatus.STOPPED, RunStatus.UPSTREAM_FAILED})

EMOJI: dict[RunStatus, str] = {
    RunStatus.SUCCEEDED: "✅",
    RunStatus.FAILED: "❌",
    RunStatus.UPSTREAM_FAILED: "🚫",
    RunStatus.STOPPED: "🛑",
    RunStatus.SKIPPED: "⏭️",
    RunStatus.RUNNING: "▶️",
    RunStatus.QUEUED: "⏳",
}


def label(status: RunStatus) -> str:
    """`upstream failed`: a status as people write it."""
    return status.value.replace("_", " ")


def verb(report: Report | OpLine) -> str:
    """`succeeded in 12s`, `failed after 3m 05s`, `running`: a run's or a pipeline op's."""
    text = label(report.status)
    if report.duration is not None:
        preposition = "in" if report.status == RunStatus.SUCCEEDED else "after"
        text += f" {preposition} {format_duration(report.duration)}"
    if isinstance(report, Report) and report.progress and report.status not in DONE:
        text += f" · {report.progress}"
    return text


def op_summary(op: OpLine) -> str:
    """`train succeeded in 12s (loss 0.25, accuracy 0.91)`, `deploy skipped: condition false`:
    one op of a pipeline on one line, without links."""
    text = f"{op.name} {verb(op)}"
    if op.why and op.status != RunStatus.SUCCEEDED:
        text += f": {clip(one_line(op.why), MAX_VALUE)}"
    if op.outputs:
        text += " (" + ", ".join(f"{key} {value(item)}" for key, item in op.outputs.items()) + ")"
    return text


def run_title(report: Report) -> str:
    """`vision/train-resnet50`."""
    return f"{report.project}/{report.run_name}" if report.project else report.run_name


def headline(report: Report) -> str:
    """`vision/train-resnet50 succeeded in 12s`."""
    return f"{run_title(report)} {verb(report)}"


def why(report: Report) -> str:
    """The run's message (or reason) on one line; empty for a success."""
    if report.status == RunStatus.SUCCEEDED:
        return ""
    return " ".join((report.message or report.reason).split())


def details(report: Report) -> str:
    """Polyaxon's notification details: one `Label: value` line each."""
    lines = [f"Run: {report.run_name} ({report.run_uuid})" if report.run_name else report.run_uuid]
    lines.append(f"Status: {report.status.value}")
    lines += [f"Reason: {report.reason}"] if report.reason else []
    lines += [f"Message: {report.message}"] if report.message else []
    when = transition_time(report)
    lines += [f"Transition time: {timestamp(when)}"] if when else []
    if report.duration is not None:
        lines.append(f"Duration: {format_duration(report.duration)}")
    lines += [f"Output {key}: {value(item)}" for key, item in report.outputs.items()]
    lines += [f"Best: {report.best.removeprefix('best: ')}"] if report.best else []
    lines += [f"Op {op_summary(op)}" for op in report.ops]
    lines += [f"Link: {report.url}"] if report.url else []
    return "\n".join(lines)


def transition_time(report: Report) -> datetime | None:
    return report.finished_at if report.status in DONE else report.started_at


def color(status: RunStatus) -> str:
    if status in _RED:
        return RED
    if status == RunStatus.SUCCEEDED:
        return GREEN
    return GREY if status in DONE else YELLOW


def value(item: Any) -> str:
    """An output as a person reads it: floats to 4 significant digits, the rest clipped."""
    if isinstance(item, float) and not math.isfinite(item):
        return "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
    if isinstance(item, float):
        return f"{item:.4g}"
    return clip(str(item), MAX_VALUE)


def delta(comparison: Comparison) -> str:
    """`+0.02`, `-1.5`, or `` when there is nothing to compare."""
    return "" if comparison.delta is None else f"{comparison.delta:+.4g}"


def timestamp(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as GitHub and GitLab read it; None stays None."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(text: str) -> str:
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending in … when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def size(text: str) -> int:
    """`text`'s length in UTF-8 bytes, which is what GitHub counts against its 65,535."""
    return len(text.encode())


def clip_bytes(text: str, limit: int) -> str:
    """`text` in at most `limit` UTF-8 bytes, ending in … when cut, never inside a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    # "ignore" drops the bytes of a character the cut went through, rather than half of it.
    return data[: max(0, limit - len("…".encode()))].decode("utf-8", "ignore") + "…"
