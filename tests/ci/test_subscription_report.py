"""A subscription's `report:` names its targets; a `connection:` is how hooks call one."""

from __future__ import annotations

import pytest

from ci.intake.documents import validate
from schemas.errors import SpecErrors
from tests.ci.factories import OPERATION


def doc(report):
    return {"name": "train", "on": {"push": {}}, "operation": OPERATION, "report": report}


def errors(report):
    with pytest.raises(SpecErrors) as caught:
        validate(doc(report))
    return {(e.path, e.reason) for e in caught.value.errors}


def test_targets_named_as_connections_are_accepted():
    report = {"slack": {"connection": "alerts"}, "email": {"connection": "ml-team"}}
    assert validate(doc(report))["report"] == report


def test_a_connection_must_be_a_name():
    assert errors({"slack": {"connection": ["alerts"]}}) == {
        ("report.slack.connection", "expected the connection's name, a non-empty text")
    }


def test_two_targets_cannot_answer_to_the_same_connection():
    assert errors({"slack": {"connection": "alerts"}, "email": {"connection": "alerts"}}) == {
        ("report.email.connection", "connection 'alerts' already names report.slack")
    }


def test_an_unknown_target_suggests_the_closest_notifier():
    [(path, reason)] = errors({"slak": {}})
    assert path == "report.slak"
    assert reason == "unknown target; did you mean 'slack'?"
