"""Roles, ordered: each allows what the one below it does and more."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    MEMBER = 2
    ADMIN = 3
    OWNER = 4

    @classmethod
    def parse(cls, value: object, field: str = "role") -> Role:
        """The role named `value`; ValueError naming the field and the choices otherwise."""
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        choices = ", ".join(r.name.lower() for r in cls)
        raise ValueError(f"{field}: expected one of {choices}, not {str(value)[:40]!r}")

    @property
    def label(self) -> str:
        return self.name.lower()


# An org member gets `member` on every project of the org; an org viewer role does not exist.
ORG_ROLES = (Role.MEMBER, Role.ADMIN, Role.OWNER)

# What each action needs on the project it touches.
ACTIONS: dict[str, Role] = {"read": Role.VIEWER, "write": Role.MEMBER, "admin": Role.ADMIN}
