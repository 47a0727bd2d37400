"""A webhook source that names a project connection (`axon sources create ... --connection
hooks`): which connections may sign deliveries, and the secret opened from one when a delivery
is verified, never earlier, so replacing the connection's value takes effect at the next one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ci.connections import crypto
from ci.runtime import Runtime
from ci.store.models import Connection, Source

# The kinds a source may name, and the secret value read from it: a `webhook` connection's
# signing secret is the same value a webhook target signs with (ci.connections.targets).
KINDS = ("webhook", "secret")
KEY = "secret"


class SigningUnavailable(Exception):
    """A source's connection cannot give a secret now; the message says why, never a value."""


def unfit(row: Connection) -> str | None:
    """Why a source cannot verify deliveries with this connection, if it cannot."""
    if row.kind not in KINDS:
        return f"connection {row.name!r} is of kind {row.kind}; a source needs one of kind " + (
            " or ".join(KINDS)
        )
    if KEY not in (row.secret_keys or ()):
        return f"connection {row.name!r} has no secret value {KEY!r} to verify deliveries with"
    return None


def opened_secret(rt: Runtime, connection_id: int, what: str) -> str:
    """The connection's signing secret, read now; `what` names the source in an error.

    Raises SigningUnavailable (the connection is gone or has no such value) or
    crypto.SecretsKeyError (no key opens it).
    """
    with rt.db.session() as session:
        row = session.get(Connection, connection_id)
        if row is None:
            raise SigningUnavailable(f"{what}: its connection no longer exists")
        values = crypto.unseal(rt, row.secret, f"{what}: connection {row.name!r}")
        secret = values.get(KEY)
        if not secret:
            raise SigningUnavailable(f"{what}: connection {row.name!r} has no secret value {KEY!r}")
        return secret


def users(session: Session, row: Connection) -> list[str]:
    """The sources verified with this connection, as `provider/name`."""
    found = session.execute(
        select(Source.provider, Source.name)
        .where(Source.connection_id == row.id)
        .order_by(Source.provider, Source.name)
    )
    return [f"{provider}/{name}" for provider, name in found]
