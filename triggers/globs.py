"""Branch, tag and path filters with GitHub Actions glob semantics.

`*` any run of characters but `/`; `**` any run including `/`; `?` zero or one, `+` one or more
of the preceding character; `[a-z0-9]` one listed character; a leading `!` negates, and a later
pattern overrides an earlier one (`['releases/**', '!releases/**-alpha']`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.errors import SpecError


def glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch in "?+" and out:
            out.append(ch)
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError(f"unclosed '[' in {pattern!r}")
            body = pattern[i + 1 : end]
            if not re.fullmatch(r"(?:[A-Za-z0-9](?:-[A-Za-z0-9])?)+", body):
                raise ValueError(f"'[{body}]' may list only letters, digits and ranges")
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class GlobList:
    """An ordered list of patterns, compiled once; the last pattern that matches decides."""

    patterns: tuple[str, ...]
    compiled: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def from_spec(cls, value: object, path: str) -> GlobList:
        single = isinstance(value, str)
        if single:
            value = [value]
        if not isinstance(value, list) or not value:
            raise SpecError(path, "expected a pattern or a non-empty list of patterns")
        compiled = []
        for index, pattern in enumerate(value):
            where = path if single else f"{path}[{index}]"
            if not isinstance(pattern, str) or not pattern.strip("!"):
                raise SpecError(where, "expected a non-empty pattern string")
            negated = pattern.startswith("!")
            try:
                regex = re.compile(glob_to_regex(pattern[1:] if negated else pattern) + r"\Z")
            except (ValueError, re.error) as exc:
                raise SpecError(where, str(exc)) from exc
            compiled.append((not negated, regex))
        return cls(tuple(value), tuple(compiled))

    def decide(self, value: str) -> str | None:
        """The pattern that decides a match for `value`, or None if it is not matched."""
        verdict: str | None = None
        for pattern, (positive, regex) in zip(self.patterns, self.compiled, strict=True):
            if regex.match(value):
                verdict = pattern if positive else None
        return verdict

    def matches(self, value: str) -> bool:
        return self.decide(value) is not None
