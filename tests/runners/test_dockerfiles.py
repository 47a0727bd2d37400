"""`init: [{dockerfile: ...}]` on Kubernetes: an init container writes the generated Dockerfile
into the context volume, where a builder (kaniko's `--dockerfile`) reads it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runners.kubernetes.dockerfiles import render
from runners.kubernetes.manifests import ManifestError
from tests.runners.test_kubernetes_manifests import compiled, init, make

DOCKERFILE = {
    "image": "python:3.11-slim",
    "langEnv": "en_US.UTF-8",
    "env": {"PIP_NO_CACHE_DIR": "1"},
    "path": ["/opt/tools/bin"],
    "copy": ["requirements.txt", ["src", "/code/src"]],
    "run": ["pip install -r requirements.txt"],
    "postRunCopy": ["setup.py"],
}
EXPECTED = """FROM python:3.11-slim
ENV LC_ALL=en_US.UTF-8 LANG=en_US.UTF-8 LANGUAGE=en_US.UTF-8
ENV PIP_NO_CACHE_DIR="1"
ENV PATH="${PATH}:/opt/tools/bin"
WORKDIR /code
COPY requirements.txt /code
COPY src /code/src
RUN pip install -r requirements.txt
COPY setup.py /code
"""


def test_a_dockerfile_is_rendered_in_polyaxons_order():
    assert render(DOCKERFILE) == EXPECTED


def test_env_as_a_list_of_pairs_and_a_workdir_are_kept():
    text = render({"image": "a", "env": [["A", "x y"]], "workdir": "/app", "copy": ["."]})

    assert text == 'FROM a\nENV A="x y"\nWORKDIR /app\nCOPY . /app\n'


def test_the_init_step_writes_the_generated_dockerfile_into_the_context(tmp_path: Path):
    run = {"kind": "job", "container": {"image": "gcr.io/kaniko-project/executor:v1.23.2"}}
    run["init"] = [
        {"dockerfile": {**DOCKERFILE, "filename": "Dockerfile.gen"}, "path": "/axon/context"}
    ]
    [job] = compiled(make(run))

    step = init(job, "init-0-file")
    assert step["command"][3:] == ["write-file", EXPECTED, "/axon/context/Dockerfile.gen", ""]
    # The same script, run here, writes exactly that file.
    dest = tmp_path / "Dockerfile.gen"
    subprocess.run([*step["command"][:5], str(dest), ""], check=True, capture_output=True)
    assert dest.read_text() == EXPECTED


def test_a_dockerfile_field_that_would_be_ignored_is_refused_with_the_reason():
    run = {"kind": "job", "container": {"image": "a"}}
    run["init"] = [{"dockerfile": {"image": "a", "username": "polyaxon", "uid": 1000}}]

    with pytest.raises(ManifestError) as raised:
        compiled(make(run))

    assert str(raised.value) == (
        "run.init[0].dockerfile.uid: creating a user in the image is not supported yet; add a "
        "`run` step that does; run.init[0].dockerfile.username: creating a user in the image is "
        "not supported yet; add a `run` step that does"
    )
