"""The API checks a polyaxonfile as `axon check` does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ci import runtime
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


def path_ref(ref: str) -> bytes:
    return (
        f"version: 1.1\nkind: operation\npathRef: {json.dumps(ref)}\nparams: {{epochs: 1}}\n"
    ).encode()


def with_specs_dir(directory: Path) -> None:
    current = runtime.get()
    current.settings = current.settings.model_copy(update={"specs_dir": str(directory)})


def reasons(response: Any) -> list[str]:
    assert response.status_code == 422, response.json
    return [error["reason"] for error in response.json["error"]["errors"]]


@pytest.mark.parametrize("ref", ["/etc/passwd", "../../../../../etc/passwd", "trainer.yaml"])
def test_without_a_specs_directory_a_path_ref_is_refused_and_nothing_is_read(client, ref):
    response = client.post("/api/v1/check", data=path_ref(ref), content_type=YAML)

    assert reasons(response) == [
        "a pathRef is read relative to its file, and <request body> is not a file; here it "
        "needs a specs directory (AXON_SPECS_DIR), and none is configured"
    ]
    assert "root" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("present", "absent"),
    [
        ("/etc/passwd", "/etc/no-such-file"),
        ("../../../../../../etc/passwd", "../../../../../../etc/no-such-file"),
        ("../outside.yaml", "../missing.yaml"),
        ("kube/config", "kube/missing"),  # a symlinked directory that leads out
    ],
)
def test_a_path_ref_leaving_the_specs_directory_gets_one_answer_whether_or_not_it_exists(
    client, tmp_path, present, absent
):
    specs = tmp_path / "specs"
    specs.mkdir()
    (tmp_path / "outside.yaml").write_text("apiVersion: v1\nkind: Config\n")
    (tmp_path / "kube").mkdir()
    (tmp_path / "kube" / "config").write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    (specs / "kube").symlink_to(tmp_path / "kube")
    with_specs_dir(specs)

    answers = [
        client.post("/api/v1/check", data=path_ref(ref), content_type=YAML)
        for ref in (present, absent)
    ]

    assert [reasons(answer) for answer in answers] == [
        [f"{ref!r} leads outside the specs directory"] for ref in (present, absent)
    ]
    assert all("Config" not in answer.get_data(as_text=True) for answer in answers)


def test_a_path_ref_inside_the_specs_directory_is_compiled(client, tmp_path):
    (tmp_path / "team").mkdir()
    component = FIXTURES / "specs" / "components" / "trainer.yaml"
    (tmp_path / "team" / "trainer.yaml").write_bytes(component.read_bytes())
    with_specs_dir(tmp_path)

    response = client.post("/api/v1/check", data=path_ref("team/trainer.yaml"), content_type=YAML)

    assert response.status_code == 200, response.json
    assert response.json["runs"][0]["command"] == ["python", "train.py", "--lr=0.01", "--epochs=1"]
