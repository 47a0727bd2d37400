"""Warn at a worker's start of report targets in use whose credential is not set."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.config import Settings
from ci.runtime import Runtime
from ci.store.models import Source, Subscription

log = logging.getLogger(__name__)


# The report targets that cannot work without a credential, and the variable that gives it.
CREDENTIALS: dict[str, str] = {
    "github": "AXON_GITHUB_TOKEN",
    "comment": "AXON_GITHUB_TOKEN",
    "checks": "AXON_GITHUB_TOKEN",
    "gitlab": "AXON_GITLAB_TOKEN",
    "note": "AXON_GITLAB_TOKEN",
}


def _has_credential(settings: Settings, variable: str) -> bool:
    if variable == "AXON_GITHUB_TOKEN":  # a GitHub App signs in without one
        github = settings.notifier_config("github")
        return bool(github["token"] or github["app_id"])
    return bool(settings.notifier_config("gitlab")["token"])


def warn_of_missing_credentials(rt: Runtime) -> list[str]:
    """Warn, for each credential not set, which report targets in use will fail without it."""
    missing = {
        name: variable
        for name, variable in CREDENTIALS.items()
        if not _has_credential(rt.settings, variable)
    }
    if not missing:
        return []
    with rt.db.session() as session:
        used = _targets_in_use(session)
    warnings = []
    for variable in sorted(set(missing.values())):
        names = sorted(name for name in used if missing.get(name) == variable)
        if names:
            warnings.append(f"{variable} is not set: reports to {', '.join(names)} will fail")
            log.warning("%s", warnings[-1])
    return warnings


def _targets_in_use(session: Session) -> set[str]:
    """The notifiers the subscriptions report to; without `report:`, their projects' forges."""
    forges: dict[int, set[str]] = {}
    for project_id, provider in session.execute(select(Source.project_id, Source.provider)):
        forges.setdefault(project_id, set()).add(provider)
    used: set[str] = set()
    for project_id, spec in session.execute(select(Subscription.project_id, Subscription.spec)):
        report = spec.get("report") if isinstance(spec, dict) else None
        used |= set(report) if isinstance(report, dict) else forges.get(project_id, set())
    return used
