"""The "did you mean" suggestion that errors about a misspelt name carry."""

from __future__ import annotations

from schemas.spelling import did_you_mean


def test_the_closest_known_name_is_suggested():
    assert did_you_mean("slak", ["email", "slack", "webhook"]) == "did you mean 'slack'?"


def test_with_nothing_close_the_fallback_is_said():
    assert did_you_mean("zzz", ["slack"], "known: slack") == "known: slack"
    assert did_you_mean("zzz", ["slack"]) == ""


def test_a_name_that_is_not_text_is_compared_as_text():
    assert did_you_mean(2, ["1", "2x"]) == "did you mean '2x'?"
