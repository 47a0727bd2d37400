"""The chart under test and a `helm` binary to lint and render it (see helm_binary.py)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm import helm_binary

CHART = Path(__file__).resolve().parents[2] / "helm" / "axon"
RELEASE = "axon"
NAMESPACE = "axon"

Objects = list[dict[str, Any]]


class HelmFailed(Exception):
    """helm exited non-zero; the message is its stderr."""


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return helm_binary.helm_path()
    except helm_binary.HelmUnavailable as error:
        pytest.skip(f"no helm binary: {error}")


def run_helm(helm: Path, args: list[str], values: dict[str, Any], tmp: Path) -> str:
    # JSON is YAML, and keeps types exactly (no `--set` string guessing).
    text = json.dumps(values, sort_keys=True)
    values_file = tmp / f"values-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    values_file.write_text(text)
    result = subprocess.run(
        [str(helm), *args, str(CHART), "--values", str(values_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise HelmFailed(result.stderr.strip())
    return result.stdout


@pytest.fixture(scope="session")
def helm_lint(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """`helm lint --strict` with these values; raises HelmFailed on any finding above INFO."""
    tmp = tmp_path_factory.mktemp("lint")

    def lint(values: dict[str, Any]) -> str:
        return run_helm(helm, ["lint", "--strict"], values, tmp)

    return lint


@pytest.fixture(scope="session")
def render(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Objects]:
    """The objects `helm template` renders for these values (hooks included), cached."""
    tmp = tmp_path_factory.mktemp("template")
    cache: dict[str, Objects] = {}

    def template(values: dict[str, Any]) -> Objects:
        key = json.dumps(values, sort_keys=True)
        if key not in cache:
            args = ["template", RELEASE, "--namespace", NAMESPACE]
            out = run_helm(helm, args, values, tmp)
            cache[key] = [doc for doc in yaml.safe_load_all(out) if doc]
        return cache[key]

    return template
