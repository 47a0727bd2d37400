"""The corpus of valid polyaxonfiles: each loads, round-trips, and fits the exported schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from schemas.spec import (
    V1Component,
    V1Operation,
    dump_component,
    dump_operation,
    load_component,
    load_operation,
)
from schemas.spec_schema import json_schema

CORPUS = Path(__file__).parents[1] / "fixtures" / "specs"
VALID = sorted(p for p in (CORPUS / "valid").iterdir() if p.suffix in (".yaml", ".json"))


def load(path: Path) -> V1Operation | V1Component:
    text = path.read_bytes()
    data = yaml.safe_load(text)
    if data["kind"] == "component":
        return load_component(text, str(path))
    return load_operation(text, str(path), is_preset=bool(data.get("isPreset")))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_corpus_covers_every_run_and_matrix_kind():
    text = "\n".join(path.read_text() for path in VALID)

    for kind in ("job", "service", "dag", "tfjob", "pytorchjob", "mpijob", "raycluster"):
        assert f"kind: {kind}" in text
    for kind in ("daskcluster", "grid", "random", "mapping", "hyperopt", "bayes", "hyperband"):
        assert f"kind: {kind}" in text
    assert "kind: iterative" in text


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_a_valid_file_dumps_and_loads_back_equal(path):
    document = load(path)
    dumped = dump_component(document) if isinstance(document, V1Component) else None
    dumped = dumped or dump_operation(document)  # type: ignore[arg-type]

    again = load_component(dumped) if isinstance(document, V1Component) else None
    again = again or load_operation(dumped, is_preset=bool(getattr(document, "is_preset", False)))

    assert again.model_dump() == document.model_dump()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_a_valid_file_fits_the_exported_json_schema(path, validator):
    data = json.loads(json.dumps(yaml.safe_load(path.read_bytes()), default=str))

    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]

    assert problems == []


def test_the_schema_refuses_an_unknown_key(validator):
    document = {"version": 1.1, "kind": "component", "run": {"kind": "job", "container": {}}}
    document["run"]["container"] = {"image": "python:3.11", "comand": ["python"]}

    assert not validator.is_valid(document)


def test_the_schema_accepts_the_short_forms(validator):
    document = {
        "version": "1.1",
        "kind": "operation",
        "params": {"lr": 0.1, "layers": {"depth": 3}},
        "matrix": {"kind": "random", "numRuns": 2, "params": {"opt": "choice:adam|sgd"}},
        "component": {"run": {"kind": "job", "container": {"image": "x", "args": "a line"}}},
    }

    assert validator.is_valid(document)
