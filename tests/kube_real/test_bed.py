"""The bed itself: the version the runner is tested against, read through the official client."""

from __future__ import annotations

from kubernetes import client


def test_the_bed_reports_a_release_version(kube_api: client.ApiClient, kube_version: str) -> None:
    info = client.VersionApi(kube_api).get_code()
    assert info.git_version == kube_version
    assert kube_version.startswith("v1.")
