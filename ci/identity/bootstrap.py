"""The first start of the embedded default: an admin user and a token for it, made once."""

from __future__ import annotations

from sqlalchemy import exists, select

from ci.identity import tokens
from ci.runtime import Runtime
from ci.store.models import User

FIRST_ADMIN = "admin"


def first_admin(rt: Runtime) -> str | None:
    """Make the admin user and return its new token, if no user exists yet; else None.

    The token is returned to be printed once; only its hash is kept, so a lost one is replaced
    with a new token (`axon tokens create --user admin` with the API token), not recovered.
    """
    with rt.db.session() as session:
        if session.scalar(select(exists().where(User.id.isnot(None)))):
            return None
        admin = User(name=FIRST_ADMIN, is_admin=True)
        session.add(admin)
        _row, token = tokens.issue(session, admin, "first start", tokens.Scopes.parse(None), None)
        return token
