"""Markdown for pull requests, check runs and merge requests: status, facts, outputs, links.

Text from events and jobs (branch names, messages, output names) is shown in code spans, so
it can neither format the page, nor link, nor mention anyone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from notifiers import render
from notifiers.base import Report, format_duration
from schemas.status import RunStatus

VERDICTS = {"better": "🟢 better", "worse": "🔴 worse", "within tolerance": "⚪ within tolerance"}


def comment(report: Report, limit: int) -> str:
    """A pull-request comment or merge-request note in at most `limit` UTF-8 bytes, led by a
    hidden line naming its owner."""
    owner = re.sub(r"[^\w./-]", "-", report.subscription or report.run_name)
    owner_line = f"<!-- axon: {owner} -->\n"
    return render.clip_bytes(owner_line + body(report, limit - render.size(owner_line)), limit)


def body(report: Report, limit: int | None = None) -> str:
    """A whole comment: headline, why, facts, a pipeline's ops, the outputs table, the rule,
    links.

    With a `limit` (UTF-8 bytes), a table too long for it keeps as many whole rows as fit and
    says how many more there are (the ops' rows give way first, then the outputs'); only what
    still does not fit is cut.
    """
    text = _body(report, ops(report), outputs(report))
    if limit is None or render.size(text) <= limit:
        return text
    table = outputs(report)
    if report.ops:
        keep = _fit(lambda rows: _body(report, ops(report, rows), table), len(report.ops), limit)
        if keep:
            return render.clip_bytes(_body(report, ops(report, keep), table), limit)
    shown = ops(report, 0)
    rows = len(report.comparisons or report.outputs)
    keep = _fit(lambda rows: _body(report, shown, outputs(report, rows)), rows, limit)
    return render.clip_bytes(_body(report, shown, outputs(report, keep)), limit)


def _fit(text: Callable[[int], str], rows: int, limit: int) -> int:
    """The most rows of `rows` with which `text(rows)` fits in `limit` UTF-8 bytes."""
    if render.size(text(rows)) <= limit:
        return rows
    fits, too_many = 0, rows  # the most rows known to fit, the fewest known not to
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        if render.size(text(middle)) <= limit:
            fits = middle
        else:
            too_many = middle
    return fits


def _body(report: Report, steps: str, table: str) -> str:
    parts = [f"### {headline(report)}"]
    why = render.why(report)
    if why:
        parts.append(f"> {code(render.clip(why, 1000))}")
    parts.append(facts(report))
    if report.best:
        parts.append(f"**Best:** {code(render.clip(report.best.removeprefix('best: '), 500))}")
    parts.append(steps)
    parts.append(table)
    if report.regression:
        base = code(report.base_branch or "base")
        parts.append(f"**Against {base}:** {code(report.regression)}")
    parts.append(links(report))
    return "\n\n".join(part for part in parts if part) + "\n"


def headline(report: Report) -> str:
    """`✅ [vision/train-resnet50](url) succeeded in 12s`."""
    emoji = render.EMOJI.get(report.status, "ℹ️")
    name = re.sub(r"([\\\[\]*_<>])", r"\\\1", code_text(render.run_title(report)))
    linked = f"[{name}]({report.url})" if report.url else name
    return f"{emoji} **{linked}** {render.verb(report)}"


def facts(report: Report) -> str:
    """`**Status** succeeded · **Duration** 12s · **Commit** `9fceb02` (`main`)`."""
    items = [f"**Status** {render.label(report.status)}"]
    if report.duration is not None:
        items.append(f"**Duration** {format_duration(report.duration)}")
    if report.sha:
        branch = report.branch or report.ref
        commit = code(report.sha[:7])
        items.append(f"**Commit** {commit} ({code(branch)})" if branch else f"**Commit** {commit}")
    if report.subscription:
        items.append(f"**Subscription** {code(report.subscription)}")
    return " · ".join(items)


def outputs(report: Report, keep: int | None = None) -> str:
    """The outputs table; beside the base branch's, with deltas and verdicts, when compared.

    With `keep`, only the first `keep` rows, and a line saying how many more there are.
    """
    if report.comparisons:
        base = code(report.base_branch or "base")
        rows = [f"| Output | This run | {_cell(base)} | Δ | |", "|---|---:|---:|---:|---|"]
        for item in report.comparisons[:keep]:
            before = "—" if item.base is None else render.value(item.base)
            verdict = VERDICTS.get(item.verdict, item.verdict)
            cells = [code(item.name), render.value(item.value), before, render.delta(item)]
            rows.append("| " + " | ".join(_cell(c) for c in [*cells, verdict]) + " |")
        return _more("\n".join(rows), len(report.comparisons), keep)
    if not report.outputs:
        return ""
    rows = ["| Output | Value |", "|---|---:|"]
    rows += [
        f"| {_cell(code(str(key)))} | {_cell(render.value(value))} |"
        for key, value in list(report.outputs.items())[:keep]
    ]
    return _more("\n".join(rows), len(report.outputs), keep)


def ops(report: Report, keep: int | None = None) -> str:
    """A pipeline's ops, one row each: name (linked to its run), status and why, duration, its
    key outputs. With `keep`, only the first `keep` rows, and a line saying how many more."""
    if not report.ops:
        return ""
    rows = ["| Op | Status | Duration | Outputs |", "|---|---|---:|---|"]
    for op in report.ops[:keep]:
        name = code(op.name)
        status = f"{render.EMOJI.get(op.status, 'ℹ️')} {render.label(op.status)}"
        if op.why and op.status != RunStatus.SUCCEEDED:
            status += f": {code(render.clip(op.why, 200))}"
        took = format_duration(op.duration) if op.duration is not None else ""
        shown = " · ".join(
            f"{code(str(key))} {render.value(value)}" for key, value in op.outputs.items()
        )
        cells = [f"[{name}]({op.url})" if op.url else name, status, took, shown]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    if keep is not None and keep < 1:
        rows = []  # not even one row fits: only the count is left
    return _more("\n".join(rows), len(report.ops), keep, "ops")


def _more(table: str, count: int, keep: int | None, what: str = "outputs") -> str:
    if keep is None or keep >= count:
        return table
    more = f"_… {count - keep} more {what}, not shown_"
    # A paragraph of its own: a line right below a table would be read as one more row.
    return f"{table}\n\n{more}" if table else more


def links(report: Report) -> str:
    items = [f"[Run]({report.url})"] if report.url else []
    if report.base_url:
        items.append(f"[Base run]({report.base_url})")
    return " · ".join(items)


def title(report: Report) -> str:
    """A short title: `Succeeded in 12s`, `Failed: exit code 1`, `Running`."""
    text = render.verb(report)
    why = render.why(report)
    if why and report.status != RunStatus.RUNNING:
        text = f"{render.label(report.status)}: {why}"
    return render.clip(text[:1].upper() + text[1:], 200)


def code(text: str) -> str:
    """`text` as a code span: no formatting, links or mentions inside."""
    text = code_text(text)
    return f"`{text}`" if text else ""


def code_text(text: str) -> str:
    # A backtick would end the span and a newline the line; both are replaced, not escaped.
    return render.one_line(text).replace("`", "'")


def _cell(text: str) -> str:
    # GitHub and GitLab split table rows on `|` even inside code spans, unless escaped.
    return text.replace("|", "\\|")
