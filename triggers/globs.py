"""Branch, tag and path filters with GitHub Actions glob semantics.

`*` any run of characters but `/`; `**` any run including `/`; `?` zero or one, `+` one or more
of the preceding character; `[a-z0-9]` one listed character; a leading `!` negates, and a later
pattern overrides an earlier one (`['releases/**', '!releases/**-alpha']`).
"""

from __future__ import annotations

import re
from bisect import insort
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


def literal_prefix(pattern: str) -> str:
    """The text every value `pattern` matches starts with (all of it for a plain name)."""
    for i, ch in enumerate(pattern):
        if ch in "*[":
            return pattern[:i]
        # `?` makes the character before it optional; after `+` that character is still there.
        # At the very start neither has a character to act on, so it stands for itself.
        if ch in "?+" and i:
            return pattern[: i - 1] if ch == "?" else pattern[:i]
    return pattern


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

    def includes(self) -> list[tuple[str, re.Pattern[str]]]:
        """The patterns that can admit a value (all but the negations), with their regexes."""
        pairs = zip(self.patterns, self.compiled, strict=True)
        return [(pattern, regex) for pattern, (positive, regex) in pairs if positive]


class GlobSet:
    """Many members' glob lists, asked at once which members could accept one value.

    The answer is a superset: a member is in it when one of its including patterns matches,
    and its negations are left to its own check. Plain names are one dict lookup. A single
    alternation regex of every glob would say whether some glob matches but not which, so the
    globs are grouped by their literal prefix and a value tries only the groups its own
    prefixes name: `release/2.0` tries the `release/` group, never `feature/`.
    """

    def __init__(self) -> None:
        self.anything: set[int] = set()
        self.literals: dict[str, set[int]] = {}
        self.globs: dict[str, dict[str, tuple[re.Pattern[str], set[int]]]] = {}
        self.lengths: list[int] = []

    def add(self, member: int, globs: GlobList | None) -> None:
        """`member` accepts what `globs` admits; None: it accepts every value."""
        if globs is None:
            self.anything.add(member)
            return
        for pattern, regex in globs.includes():
            prefix = literal_prefix(pattern)
            if prefix == pattern:
                self.literals.setdefault(pattern, set()).add(member)
                continue
            group = self.globs.setdefault(prefix, {})
            group.setdefault(pattern, (regex, set()))[1].add(member)
            if len(prefix) not in self.lengths:
                insort(self.lengths, len(prefix))

    def find(self, value: str) -> set[int]:
        found = set(self.anything)
        found.update(self.literals.get(value, ()))
        for length in self.lengths:
            if length > len(value):
                break
            for regex, members in self.globs.get(value[:length], {}).values():
                if regex.match(value):
                    found.update(members)
        return found
