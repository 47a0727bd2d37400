"""Markdown for pull requests, check runs and merge requests: status, facts, outputs, links.

Text from events and jobs (branch names, messages, output names) is shown in code spans, so
it can neither format the page, nor link, nor mention anyone.
"""

from __future__ import annotations

import re

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
    """A whole comment: headline, why, facts, the outputs table, the rule, links.

    With a `limit` (UTF-8 bytes), a table too long for it keeps as many whole rows as fit and
    says how many more there are; only what still does not fit is cut.
    """
    text = _body(report, outputs(report))
    rows = len(report.comparisons or report.outputs)
    if limit is None or render.size(text) <= limit or not rows:
        return text if limit is None else render.clip_bytes(text, limit)
    fits, too_many = 0, rows  # the most rows known to fit, the fewest known not to
    while too_many - fits > 1:
        middle = (fits + too_many) // 2
        if render.size(_body(report, outputs(report, middle))) <= limit:
            fits = middle
        else:
            too_many = middle
    return render.clip_bytes(_body(report, outputs(report, fits)), limit)


def _body(report: Report, table: str) -> str:
    parts = [f"### {headline(report)}"]
    why = render.why(report)
    if why:
        parts.append(f"> {code(render.clip(why, 1000))}")
    parts.append(facts(report))
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


def _more(table: str, count: int, keep: int | None) -> str:
    if keep is None or keep >= count:
        return table
    # A paragraph of its own: a line right below a table would be read as one more row.
    return f"{table}\n\n_… {count - keep} more outputs, not shown_"


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
