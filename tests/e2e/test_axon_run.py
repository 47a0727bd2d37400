"""`axon run --watch` against a running Axon follows the run to its end and exits as it ended."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from tests.e2e.harness import BIN
from tests.waiting import wait_for


def polyaxonfile(code: str) -> str:
    return textwrap.dedent(
        f"""\
        version: 1.1
        kind: component
        name: trainer
        inputs:
          - {{name: epochs, type: int, value: 1, isOptional: true}}
        run:
          kind: job
          container:
            image: python:3.11
            command: [{sys.executable}, -c, {code!r}]
            args: ["{{{{ epochs }}}}"]
        """
    )


TRAIN = "import sys; print('epochs', sys.argv[1], flush=True)"
FAIL = "import sys; print('diverged', flush=True); sys.exit(4)"
SLEEP = "import time; print('sleeping', flush=True); time.sleep(60)"


def cli(server, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "AXON_URL": server.url, "AXON_API_TOKEN": server.token}
    return [str(BIN / "axon"), *args], env


def axon_run(server, path, *args: str) -> subprocess.CompletedProcess[str]:
    command, env = cli(server, "run", "-f", str(path), *args, "--watch", "--poll-interval", "0.2")
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def project(axon) -> str:
    name = f"manual{uuid.uuid4().hex[:6]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": name}).status_code == 201
    return name


def test_a_run_that_succeeds_is_followed_to_its_end_and_exits_0(axon, project, tmp_path):
    path = tmp_path / "polyaxonfile.yaml"
    path.write_text(polyaxonfile(TRAIN))

    result = axon_run(axon, path, "--project", project, "-P", "epochs=5")

    assert result.returncode == 0, result.stdout + result.stderr + axon.logs()
    lines = result.stdout.splitlines()
    run_uuid, url = lines[0], lines[1]
    assert url == f"{axon.url}/runs/{run_uuid}"
    assert "[created] ManualRun: started by" in lines[2]
    assert any(line.startswith("[succeeded]") for line in lines)
    assert "epochs 5" in lines
    run = axon.api("GET", f"/api/v1/runs/{run_uuid}").json()
    assert (run["status"], run["event"]["kind"]) == ("succeeded", "manual")


def test_a_run_that_fails_exits_1(axon, project, tmp_path):
    path = tmp_path / "polyaxonfile.yaml"
    path.write_text(polyaxonfile(FAIL))

    result = axon_run(axon, path, "--project", project)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "diverged" in result.stdout.splitlines()
    assert any(line.startswith("[failed]") for line in result.stdout.splitlines())


def test_a_refused_polyaxonfile_starts_nothing_and_exits_2(axon, project, tmp_path):
    path = tmp_path / "polyaxonfile.yaml"
    path.write_text(polyaxonfile(TRAIN).replace("command:", "comand:"))
    before = axon.api("GET", "/api/v1/runs", params={"project": project}).json()

    result = axon_run(axon, path, "--project", project)

    assert result.returncode == 2
    assert "run.container.comand" in result.stderr and "(line 10)" in result.stderr
    assert axon.api("GET", "/api/v1/runs", params={"project": project}).json() == before


def test_a_run_stopped_while_watched_exits_3(axon, project, tmp_path):
    path = tmp_path / "polyaxonfile.yaml"
    path.write_text(polyaxonfile(SLEEP))
    command, env = cli(axon, "run", "-f", str(path), "--project", project, "--watch")
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as watching:
        try:
            run_uuid = watching.stdout.readline().strip()  # type: ignore[union-attr]
            axon.wait_for_status(run_uuid, "running")
            assert axon.api("POST", f"/api/v1/runs/{run_uuid}/stop").status_code == 202

            wait_for(lambda: watching.poll() is not None, 30, 0.1, "axon run to exit")
            assert watching.returncode == 3
        finally:
            if watching.poll() is None:
                watching.kill()
    assert axon.api("GET", f"/api/v1/runs/{run_uuid}").json()["status"] == "stopped"
