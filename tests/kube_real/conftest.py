"""Fixtures for tests against the real test bed: they skip, with the reason, unless it answers.

Every test collected under tests/kube_real is marked `kube_real`; the default pytest run
deselects that marker (pyproject's addopts), `make test-kube-real` selects it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.kube_real import bed

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests before `-m` selects, so a test cannot forget the marker."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.kube_real)


@pytest.fixture(scope="session")
def kube_version() -> str:
    """The real apiserver's version; the test is skipped when it does not answer."""
    version = bed.server_version()
    if version is None:
        pytest.skip(
            f"the real test bed does not answer at KUBECONFIG={bed.KUBECONFIG} "
            f"(build and start it: {bed.TOOLS}/build.sh, then up.sh; or `make test-kube-real`)"
        )
    return version


@pytest.fixture(scope="session")
def kubeconfig(kube_version: str) -> str:
    """The bed's kubeconfig file."""
    return bed.KUBECONFIG


@pytest.fixture(autouse=True)
def _not_while_restarting(request: pytest.FixtureRequest) -> None:
    """Wait while another test restarts the shared apiserver (it holds bed.RESTARTING), and
    until the apiserver answers again."""
    if "kube_version" not in request.fixturenames:
        return
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if not bed.RESTARTING.exists() and bed.server_version() is not None:
            return
        time.sleep(0.2)


@pytest.fixture
def kube_api(kubeconfig: str) -> Iterator[client.ApiClient]:
    """An ApiClient for the bed (a fresh one per test)."""
    with config.new_client_from_config(config_file=kubeconfig) as api:
        yield api
