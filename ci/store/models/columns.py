"""What the tables' columns share: JSON that is JSONB on PostgreSQL, and run uuids."""

from __future__ import annotations

import secrets

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

Json = JSON().with_variant(JSONB(), "postgresql")


def new_uuid() -> str:
    return secrets.token_hex(16)
