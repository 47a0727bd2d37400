"""Filters read patterns the way GitHub Actions does."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError
from triggers.globs import GlobList


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
