"""Filters read patterns the way GitHub Actions does."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError
from triggers.globs import GlobList, GlobSet, literal_prefix


@pytest.mark.parametrize(
    ("patterns", "value", "matched"),
    [
        (["main"], "main", True),
        (["main"], "main2", False),
        (["feature/*"], "feature/x", True),
        (["feature/*"], "feature/x/y", False),
        (["release/**"], "release/1.0/hotfix", True),
        (["release/**"], "release", False),
        (["**/README.md"], "README.md", True),
        (["**/README.md"], "docs/a/README.md", True),
        (["*.py"], "a/b.py", False),
        (["**.py"], "a/b.py", True),
        (["v[12].[0-9]+.[0-9]+"], "v1.10.3", True),
        (["v[12].[0-9]+.[0-9]+"], "v3.1.0", False),
        (["docs?"], "doc", True),
        (["releases/**", "!releases/**-alpha"], "releases/1.0-alpha", False),
        (["releases/**", "!releases/**-alpha"], "releases/1.0", True),
        (["!releases/**-alpha", "releases/**"], "releases/1.0-alpha", True),
    ],
)
def test_patterns_match_as_in_github_actions(patterns, value, matched):
    assert GlobList.from_spec(patterns, "on.push.branches").matches(value) is matched


def test_the_deciding_pattern_is_named():
    globs = GlobList.from_spec(["main", "release/**"], "on.push.branches")
    assert globs.decide("release/2.0") == "release/**"


@pytest.mark.parametrize("bad", [[], "", ["[a-"], [3], ["!"]])
def test_an_invalid_pattern_names_its_place(bad):
    with pytest.raises(SpecError, match=r"on\.push\.branches"):
        GlobList.from_spec(bad, "on.push.branches")


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("main", "main"),
        ("release/**", "release/"),
        ("feature/*-fix", "feature/"),
        ("docs?", "doc"),
        ("v1+.0", "v1"),
        ("v[12].*", "v"),
        ("?x", "?x"),
        ("**/README.md", ""),
    ],
)
def test_the_literal_prefix_is_what_every_match_starts_with(pattern, prefix):
    assert literal_prefix(pattern) == prefix
    assert all(
        value.startswith(prefix)
        for value in ("main", "release/1", "feature/a-fix", "doc", "docs", "v11.0", "v1.2", "?x")
        if GlobList.from_spec([pattern], "p").matches(value)
    )


def test_a_glob_set_finds_every_member_whose_patterns_admit_a_value():
    globs = GlobSet()
    globs.add(1, GlobList.from_spec(["main", "release/**"], "p"))
    globs.add(2, GlobList.from_spec(["feature/*"], "p"))
    globs.add(3, None)
    globs.add(4, GlobList.from_spec(["**"], "p"))
    globs.add(5, GlobList.from_spec(["!main"], "p"))
    assert globs.find("main") == {1, 3, 4}
    assert globs.find("release/2.0/rc") == {1, 3, 4}
    assert globs.find("feature/x") == {2, 3, 4}
    assert globs.find("feature/x/y") == {3, 4}
