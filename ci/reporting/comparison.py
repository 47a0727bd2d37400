"""A pull request's outputs beside the base branch's: which got better, worse, or held.

A subscription's `compare:` names the outputs that matter and how to read them:
`compare: {accuracy: {better: higher, tolerance: 0.005, failIfDrops: 0.01}, loss: {better: lower}}`.
A change within `tolerance` is neutral, not a failure; `failIfDrops` makes a larger move the
wrong way a regression that a check run concludes as failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.store.models import Run
from notifiers.base import Comparison
from schemas.errors import SpecError
from schemas.status import RunStatus

RULE_KEYS = {"better", "tolerance", "failIfDrops"}
RECENT = 200  # how many of the subscription's latest successful runs to look through


@dataclass(frozen=True)
class Rule:
    higher_is_better: bool = True
    tolerance: float = 0.0
    fail_if_drops: float | None = None


def rules(spec: Any, path: str = "compare") -> dict[str, Rule]:
    """The `compare:` section as rules; SpecError names a bad field."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SpecError(path, "expected a mapping of output name to {better, tolerance}")
    found = {}
    for name, rule in spec.items():
        rule = rule or {}
        where = f"{path}.{name}"
        if not isinstance(rule, dict) or set(rule) - RULE_KEYS:
            raise SpecError(where, f"expected a mapping with keys among {sorted(RULE_KEYS)}")
        if rule.get("better", "higher") not in ("higher", "lower"):
            raise SpecError(f"{where}.better", "expected higher or lower")
        for key in ("tolerance", "failIfDrops"):
            value = rule.get(key)
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise SpecError(f"{where}.{key}", "expected a number, zero or more")
        found[str(name)] = Rule(
            rule.get("better", "higher") == "higher",
            float(rule.get("tolerance") or 0.0),
            rule.get("failIfDrops"),
        )
    return found


def baseline(session: Session, run: Run, base_branch: str) -> Run | None:
    """The latest successful run of the same subscription on a push to the base branch."""
    candidates = session.scalars(
        select(Run)
        .where(
            Run.subscription_id == run.subscription_id,
            Run.status == RunStatus.SUCCEEDED,
            Run.id != run.id,
        )
        .order_by(Run.finished_at.desc())
        .limit(RECENT)
    )
    for candidate in candidates:
        event = candidate.event or {}
        if event.get("kind") == "push" and event.get("branch") == base_branch:
            return candidate
    return None


def compare(
    outputs: dict[str, Any], base: dict[str, Any], wanted: dict[str, Rule]
) -> tuple[tuple[Comparison, ...], str]:
    """Each output beside the base's, with a verdict; and the regressions, if any, in words."""
    shown, regressions = [], []
    for name in sorted(set(outputs) | set(wanted)):
        value, before = outputs.get(name), base.get(name)
        rule = wanted.get(name)
        if not (_number(value) and _number(before)):
            shown.append(Comparison(name, value, before))
            continue
        delta = float(value) - float(before)  # type: ignore[arg-type]
        if rule is None:
            shown.append(Comparison(name, value, before, delta))
            continue
        gain = delta if rule.higher_is_better else -delta
        verdict = (
            "within tolerance"
            if abs(delta) <= rule.tolerance
            else ("better" if gain > 0 else "worse")
        )
        shown.append(Comparison(name, value, before, delta, verdict))
        if rule.fail_if_drops is not None and -gain > rule.fail_if_drops:
            regressions.append(
                f"{name} moved {delta:+g}, more than {rule.fail_if_drops:g} the wrong way"
            )
    return tuple(shown), "; ".join(regressions)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
