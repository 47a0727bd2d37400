"""The one template sandbox: strict, kept inside, and too small to exhaust the worker."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError

from schemas.sandbox import sandbox


def render(text: str, **context: object) -> str:
    return sandbox().from_string(text).render(context)


def test_a_template_renders_its_values():
    assert render("{{ 'ab' * 3 }}-{{ 2 ** 10 }}-{{ range(3) | list }}") == "ababab-1024-[0, 1, 2]"


@pytest.mark.parametrize(
    ("text", "error", "reason"),
    [
        ("{{ 'x' * 1000000 }}", SecurityError, "a repeated value of length 1000000 is too large"),
        ("{{ 1000000 * [0] }}", SecurityError, "a repeated value of length 1000000 is too large"),
        ("{{ 2 ** 100000 }}", SecurityError, "exponent 100000 is too large"),
        ("{{ range(10 ** 6) | list }}", OverflowError, "Range too big"),
    ],
)
def test_a_value_too_big_for_the_worker_is_refused(text, error, reason):
    with pytest.raises(error, match=reason):
        render(text)


def test_an_unknown_name_fails_instead_of_rendering_empty():
    with pytest.raises(UndefinedError, match="'branch' is undefined"):
        render("{{ branch }}")


def test_a_template_cannot_reach_outside_the_sandbox():
    with pytest.raises(SecurityError):
        render("{{ ''.__class__.__mro__ }}")
    with pytest.raises(SecurityError):
        render("{{ items.append(1) }}", items=[])
