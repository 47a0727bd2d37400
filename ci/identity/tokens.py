"""Personal access tokens: made random, shown once, kept as a hash, found by it.

Only the sha256 of a token is stored. A slow password hash (bcrypt, argon2) defends guessable
secrets against a stolen table; these tokens are 256 random bits, which no guessing reaches, so
a fast hash loses nothing and lets the lookup be one indexed equality instead of a scan.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ci.identity.roles import ACTIONS
from ci.store.db import utcnow
from ci.store.models import AccessToken, Project, User

PREFIX = "axp_"
# last_used_at is written at most this often per token, so that reads do not all become writes.
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be honoured; the message names the field."""


@dataclass(frozen=True)
class Scopes:
    projects: frozenset[str] | None  # None: every project the user may reach
    actions: frozenset[str]

    @classmethod
    def parse(cls, value: Any) -> Scopes:
        if value is None:
            return cls(None, frozenset(ACTIONS))
        if not isinstance(value, dict):
            raise TokenError("scopes: expected an object with `projects` and `actions`")
        unknown = set(value) - {"projects", "actions"}
        if unknown:
            raise TokenError(f"scopes.{sorted(unknown)[0]}: unknown; known: projects, actions")
        projects = value.get("projects")
        if projects is not None and (
            not isinstance(projects, list) or not all(isinstance(p, str) for p in projects)
        ):
            raise TokenError("scopes.projects: expected a list of project names, or null")
        actions = value.get("actions", list(ACTIONS))
        if not isinstance(actions, list) or not all(a in ACTIONS for a in actions):
            raise TokenError(f"scopes.actions: expected a list of {', '.join(ACTIONS)}")
        return cls(None if projects is None else frozenset(projects), frozenset(actions))

    def as_json(self) -> dict[str, Any]:
        projects = None if self.projects is None else sorted(self.projects)
        return {"projects": projects, "actions": [a for a in ACTIONS if a in self.actions]}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(
    session: Session,
    user: User,
    name: str,
    scopes: Scopes,
    expires_at: datetime | None,
) -> tuple[AccessToken, str]:
    """A new token for `user`: its row, and the token itself, which is never kept."""
    if scopes.projects:
        known = set(session.scalars(select(Project.name).where(Project.name.in_(scopes.projects))))
        missing = sorted(scopes.projects - known)
        if missing:
            raise TokenError(f"scopes.projects: no project named {missing[0]!r}")
    if expires_at is not None and expires_at <= utcnow():
        raise TokenError("expires_at: already past")
    token = PREFIX + secrets.token_urlsafe(32)
    row = AccessToken(
        user=user,
        name=name,
        prefix=token[: len(PREFIX) + 6],
        token_hash=digest(token),
        scopes=scopes.as_json(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, token


def find(session: Session, token: str) -> AccessToken | None:
    """The live token (not revoked, not expired) whose hash `token` has, else None."""
    if not token.startswith(PREFIX):
        return None
    row = session.scalar(select(AccessToken).where(AccessToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return row


def touch(session: Session, token_id: int) -> None:
    """Note the token's use, unless that was noted less than TOUCH_EVERY ago."""
    now = utcnow()
    session.execute(
        update(AccessToken)
        .where(AccessToken.id == token_id)
        .where(
            or_(AccessToken.last_used_at.is_(None), AccessToken.last_used_at < now - TOUCH_EVERY)
        )
        .values(last_used_at=now)
    )


def view(row: AccessToken) -> dict[str, Any]:
    """A token as lists show it: never the token, never its hash."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": row.scopes,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "created_at": row.created_at.isoformat(),
    }
