"""What the server says about itself: /version, the API groups and resources, namespaces."""

from __future__ import annotations

import re

from tests.fakes.kubernetes.store import RESOURCES, Obj

_HEALTH = ("/healthz", "/readyz", "/livez")
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def discovery(path: str, version: str) -> Obj | None:
    """The answer to a discovery path, or None when `path` is not one."""
    path = path.rstrip("/")
    if path == "/version":
        return version_info(version)
    if path in _HEALTH:
        return {"status": "ok"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        return _groups()
    if path == "/api/v1/namespaces":
        return {
            "kind": "NamespaceList",
            "apiVersion": "v1",
            "metadata": {},
            "items": [namespace("default")],
        }
    named = re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)
    if named:
        return namespace(named.group(1))
    listed = re.fullmatch(r"/api/(v1)|/apis/([^/]+/[^/]+)", path)
    if listed:
        return _resources(listed.group(1) or listed.group(2))
    return None


def version_info(version: str) -> Obj:
    major, minor = version.split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{version}",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def namespace(name: str) -> Obj:
    """Every namespace exists and is Active: the double keeps no Namespace objects."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _groups() -> Obj:
    pairs = sorted({(r.group, r.version) for r in RESOURCES.values() if r.group})
    groups = []
    for group, version in pairs:
        entry = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resources(group_version: str) -> Obj | None:
    resources = []
    for resource in RESOURCES.values():
        if resource.api_version != group_version:
            continue
        resources.append(
            {
                "name": resource.plural,
                "singularName": resource.kind.lower(),
                "namespaced": True,
                "kind": resource.kind,
                "verbs": _VERBS,
            }
        )
        if resource.status_subresource:
            resources.append(
                {
                    "name": f"{resource.plural}/status",
                    "singularName": "",
                    "namespaced": True,
                    "kind": resource.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        return None
    if group_version == "v1":
        resources.append(
            {
                "name": "pods/log",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get"],
            }
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
