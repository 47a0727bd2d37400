"""What PostgreSQL cannot store (NUL, a lone surrogate) becomes U+FFFD wherever a payload holds
it; a payload holding neither is kept as it is, not copied."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.event import REPLACEMENT, storable
from tests.conftest import load_json


def test_a_clean_payload_is_given_back_itself() -> None:
    payload = load_json("webhooks/github/push_branch_commits.json")
    assert storable(payload) is payload


def test_a_nul_or_lone_surrogate_is_replaced_however_deep() -> None:
    payload = {"commits": [{"message": "fix\x00"}, {"id": "a"}], "k\ud800": ("t", "\udfff")}
    assert storable(payload) == {
        "commits": [{"message": f"fix{REPLACEMENT}"}, {"id": "a"}],
        f"k{REPLACEMENT}": ("t", REPLACEMENT),
    }
    assert payload["commits"][0]["message"] == "fix\x00"  # the original is not changed


def test_text_that_only_reads_like_an_escape_is_kept() -> None:
    payload = {"body": "a literal \\u0000 and \\ud800 in a comment"}
    assert storable(payload) is payload


def test_values_json_cannot_write_are_walked_too() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert storable({"at": when, "name": "x\x00"}) == {"at": when, "name": f"x{REPLACEMENT}"}
    clean = {"at": when, "name": "x"}
    assert storable(clean) is clean
