"""What a run's admission must look up, known per process: which projects and orgs have presets,
and whether any quota exists. Most have none, and starting each op of a large dag read them
again (three statements for the presets, one for the quotas).

Whether a process's copy is current is one read per transaction: `profile_versions`, which the
database changes in the transaction of any write to presets, org presets or quotas, whoever
writes (migration 0020's triggers). So the next admission after a change sees it on every
process, with no message between them. Only absence is trusted: a run whose project may have
presets reads them, and with any quota in the database the quotas are read and locked as before,
so a cached answer never admits a run over a quota.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.store.models import OrgPreset, Preset, ProfileVersion, Project, Quota


@dataclass(frozen=True)
class Profile:
    """The database's presets and quotas as of one version, as far as admission asks."""

    version: int | None
    preset_projects: frozenset[int]
    preset_orgs: frozenset[int]
    any_quota: bool

    def has_presets(self, project: Project) -> bool:
        return project.id in self.preset_projects or (
            project.org_id is not None and project.org_id in self.preset_orgs
        )


_cache: dict[str, Profile] = {}
_lock = threading.Lock()
# Where a session keeps the profile it read, with the transaction it read it in.
_KEY = "axon.profile"
# Where it keeps a version read by a caller's own statement (`noted`), likewise.
_NOTED = "axon.profile_version"
# The version, as a column of a caller's statement: `noted` then saves `current` its read.
VERSION = select(ProfileVersion.version).where(ProfileVersion.id == 1).scalar_subquery()


def noted(session: Session, version: int | None) -> None:
    """Keep `version`, read with VERSION in a statement of this transaction (the one that locks
    a run to start it): the admission's `current` reads none of its own, one round trip less."""
    session.info[_NOTED] = (session.get_transaction(), version)


def forget() -> None:
    """Drop this process's copies: the next admission reads them again."""
    with _lock:
        _cache.clear()


def current(session: Session) -> Profile:
    """The profile as of this transaction's read of the version: read once per transaction."""
    kept = session.info.get(_KEY)
    if kept is not None and kept[0] is session.get_transaction():
        return kept[1]  # type: ignore[no-any-return]
    with session.no_autoflush:  # nothing it reads is written by the caller
        seen = session.info.get(_NOTED)
        if seen is not None and seen[0] is session.get_transaction():
            version = seen[1]
        else:
            version = session.scalar(select(VERSION))
        key = session.get_bind().engine.url.render_as_string(hide_password=True)
        with _lock:
            found = _cache.get(key)
        if found is None or version is None or found.version != version:
            # The version was read before the rows: a write committed in between makes the copy
            # newer than its version says, and the next admission reads it again.
            found = _read(session, version)
            with _lock:
                _cache[key] = found
    session.info[_KEY] = (session.get_transaction(), found)
    return found


def _read(session: Session, version: int | None) -> Profile:
    projects = frozenset(session.scalars(select(Preset.project_id).distinct()))
    orgs = frozenset(session.scalars(select(OrgPreset.org_id).distinct()))
    any_quota = session.scalar(select(Quota.id).limit(1)) is not None
    return Profile(version, projects, orgs, any_quota)
