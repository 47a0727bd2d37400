"""`axon check --project NAME` checks an operation as a run of that project compiles it: the
presets it names are looked up on the server (the project's, then its org's) and the defaults
applied; offline, a named preset is refused naming it and where presets are found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from ci.cli.spec import check
from tests.ci.conftest import operation
from tests.conftest import API_TOKEN
from tests.live import Served, serve

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
GPU = {"queue": "gpu", "runPatch": {"container": {"env": [{"name": "PROFILE", "value": "org"}]}}}
OWN = {"queue": "mine"}
NIGHTLY = {"termination": {"maxRetries": 2}}


@pytest.fixture(scope="module")
def site(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve("axon_check_presets", tmp_path_factory.mktemp("site")) as served:
        post(served, "/api/v1/projects", {"name": "vision"})
        post(served, "/api/v1/projects", {"name": "audio"})
        post(served, "/api/v1/orgs/default/presets", {"name": "gpu", "preset": GPU})
        post(served, "/api/v1/orgs/default/presets", {"name": "small", "preset": GPU})
        post(served, "/api/v1/projects/vision/presets", {"name": "small", "preset": OWN})
        document = {"name": "nightly", "preset": NIGHTLY, "default": True}
        post(served, "/api/v1/projects/vision/presets", document)
        yield served


def post(site: Served, path: str, body: dict[str, Any]) -> None:
    response = requests.post(site.url + path, json=body, headers=AUTH, timeout=10)
    assert response.status_code == 201, response.text


def checked(site: Served | None, path: Path, *args: str) -> Any:
    env = {"AXON_URL": site.url if site else "http://127.0.0.1:9", "AXON_API_TOKEN": API_TOKEN}
    return CliRunner().invoke(check, ["-f", str(path), "-o", "json", *args], env=env)


def written(tmp_path: Path, *presets: str) -> Path:
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump({**operation(), "presets": list(presets)}, sort_keys=False))
    return path


def test_a_preset_of_the_projects_org_is_applied_by_name(site, tmp_path):
    result = checked(site, written(tmp_path, "gpu"), "--project", "vision")

    assert result.exit_code == 0, result.output
    [run] = yaml.safe_load(result.stdout)["runs"]
    assert run["queue"] == "gpu"
    assert run["env"]["PROFILE"] == "org"


def test_the_projects_preset_overrides_the_orgs_of_the_same_name_and_defaults_apply(site, tmp_path):
    result = checked(site, written(tmp_path, "small"), "--project", "vision")

    assert result.exit_code == 0, result.output
    [run] = yaml.safe_load(result.stdout)["runs"]
    assert run["queue"] == "mine"
    assert "PROFILE" not in (run.get("env") or {})
    assert run["maxRetries"] == 2


def test_another_project_of_the_org_gets_the_orgs_preset_and_not_the_others_default(site, tmp_path):
    result = checked(site, written(tmp_path, "small"), "--project", "audio")

    assert result.exit_code == 0, result.output
    [run] = yaml.safe_load(result.stdout)["runs"]
    assert run["queue"] == "gpu"
    assert "maxRetries" not in run


def test_a_preset_the_server_lacks_is_refused_naming_it_and_the_known_ones(site, tmp_path):
    result = checked(site, written(tmp_path, "huge"), "--project", "vision")

    assert result.exit_code == 1
    assert "presets: unknown preset 'huge'; known: gpu, nightly, small" in result.stderr


def test_offline_a_named_preset_is_refused_naming_it_and_where_presets_are_found(tmp_path):
    result = checked(None, written(tmp_path, "gpu"))

    assert result.exit_code == 1
    line = next(line for line in result.stderr.splitlines() if "presets" in line)
    assert "presets: preset 'gpu': not looked up" in line
    assert "--project NAME" in line


def test_an_unknown_project_is_a_usage_error_naming_it(site, tmp_path):
    result = checked(site, written(tmp_path, "gpu"), "--project", "nowhere")

    assert result.exit_code == 1
    assert "nowhere" in result.stderr
    assert result.stdout == ""
