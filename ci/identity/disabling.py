"""Disabled users: an admin disables a user (someone who left, an account thought leaked)
without deleting what it made or owns. While disabled, its tokens answer 401 with the reason,
its page sessions (token or OpenID Connect) end on their next request, and its OpenID Connect
sign-ins are refused. Enabling it again brings its unexpired tokens back: revoke a token to end
it for good."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ci.identity.members import MemberError
from ci.identity.reach import Principal
from ci.store.db import utcnow
from ci.store.models import User


def reason(user: User) -> str:
    """Why `user`'s credentials are refused, said to whoever holds them."""
    since = f" since {user.disabled_at.isoformat()}" if user.disabled_at else ""
    return f"user {user.name!r} is disabled{since}: an admin may enable it again"


def set_disabled(session: Session, user: User, principal: Principal, disabled: bool) -> None:
    """Disable or enable `user`; doing either twice changes nothing."""
    if disabled and principal.user_id == user.id:
        # An admin locking themselves out would leave nobody to undo it.
        raise MemberError(409, "user: you may not disable yourself; another admin may")
    if not disabled:
        user.disabled_at = None
    elif user.disabled_at is None:
        user.disabled_at = utcnow()
    session.flush()
