"""`axon schema --subscription`: the JSON Schema of subscription files, from the same models
that validate them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from ci.cli.spec import schema
from ci.intake.documents import parse_document, validate_many
from schemas.errors import SpecErrors

RECORDED = Path(__file__).parents[1] / "fixtures" / "subscriptions" / "vision.yaml"


def printed_schema() -> dict:
    result = CliRunner().invoke(schema, ["--subscription"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_schema_subscription_describes_on_and_concurrency():
    document = printed_schema()

    definitions = document["$defs"]
    keys = definitions["Subscription"]["properties"]
    assert {"on", "concurrency", "repo", "operation", "report"} <= set(keys)
    on_keys = next(f for f in definitions["On"]["anyOf"] if f.get("type") == "object")
    assert {"push", "pull_request", "comment", "schedule"} <= set(on_keys["properties"])
    assert "branches-ignore" in definitions["PushFilters"]["properties"]
    assert "cancelInProgress" in str(definitions["ConcurrencyModel"])


def test_the_printed_schema_validates_the_recorded_subscriptions_file():
    data, _ = parse_document(RECORDED.read_text())

    jsonschema.Draft202012Validator(printed_schema()).validate(data)
    assert [doc["name"] for doc in validate_many(RECORDED.read_text())] == ["train", "nightly"]


@pytest.mark.parametrize(
    ("old", "new"),
    [("paths-ignore", "paths-ignor"), ("cancelInProgress", "cancel-in-progress")],
)
def test_the_schema_refuses_a_misspelt_key_as_axon_does(old, new):
    text = RECORDED.read_text().replace(old, new, 1)
    data, _ = parse_document(text)

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(printed_schema()).validate(data)
    with pytest.raises(SpecErrors) as refused:
        validate_many(text)
    [error] = refused.value.errors
    assert error.path.endswith(new) and error.reason.startswith("unknown")
    assert error.line
