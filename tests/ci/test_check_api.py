"""The API checks a polyaxonfile as `axon check` does."""

from __future__ import annotations

from tests.conftest import FIXTURES

GRID = FIXTURES / "specs" / "valid" / "matrix_grid.yaml"
YAML = "application/yaml"


def test_a_valid_polyaxonfile_comes_back_compiled_one_run_per_grid_point(client):
    response = client.post("/api/v1/check", data=GRID.read_bytes(), content_type=YAML)

    assert response.status_code == 200, response.json
    runs = response.json["runs"]
    assert len(runs) > 1 and all("command" in run for run in runs)


def test_an_invalid_polyaxonfile_gets_422_with_every_error_located(client):
    text = (
        b"version: 1.1\nkind: operation\ncomponent:\n  run: {kind: job, container: {comand: [x]}}\n"
    )

    response = client.post("/api/v1/check", data=text, content_type=YAML)

    assert response.status_code == 422
    errors = response.json["error"]["errors"]
    assert any(e["path"] == "component.run.container.comand" and e["line"] == 4 for e in errors)


def test_the_spec_schema_is_served_for_editors(client):
    schema = client.get("/api/v1/schema").json
    assert schema["$schema"].startswith("https://json-schema.org/")
