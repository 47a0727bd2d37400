"""The Helm chart: it lints, renders valid Kubernetes 1.30 objects, and deploys what Axon needs."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from tests.helm.conftest import NAMESPACE, HelmFailed, Objects

KUBERNETES_VERSION = "1.30"
COMPONENTS = ("api", "worker", "scheduler", "agent")
SECRET_KEYS = (
    "AXON_DATABASE_URL",
    "AXON_BROKER_URL",
    "AXON_SECRET_KEY",
    "AXON_API_TOKEN",
    "AXON_GITHUB_TOKEN",
    "AXON_SLACK_WEBHOOK_URL",
)
REQUIRED_SECRET_KEYS = SECRET_KEYS[:3]
# Only the API serves requests, so only its pods get the API token, and cannot start without it.
API_ONLY_SECRET_KEYS = ("AXON_API_TOKEN",)
MANAGE = {"create", "get", "list", "watch", "patch", "delete"}

CONNECTIONS = {
    "secrets": {
        "databaseUrl": "postgresql+psycopg2://axon:pw@db.example:5432/axon",
        "brokerUrl": "amqp://axon:pw@mq.example:5672/axon",
        "secretKey": "a-long-random-secret-key",
    }
}


def with_connections(**values: Any) -> dict[str, Any]:
    merged = copy.deepcopy(CONNECTIONS)
    for key, value in values.items():
        merged[key] = {**merged[key], **value} if key in merged else value
    return merged


VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": with_connections(),
    "ingress-tls": with_connections(
        ingress={
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": [{"host": "axon.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "axon-tls", "hosts": ["axon.example.com"]}],
        }
    ),
    "existing-secret": {"secrets": {"existingSecret": "axon-settings"}},
    "scaled": with_connections(
        api={"replicaCount": 3, "workers": 4, "resources": {"limits": {"memory": "1Gi"}}},
        worker={"replicaCount": 5, "concurrency": 8, "nodeSelector": {"pool": "cpu"}},
        scheduler={"replicaCount": 2},
        agent={"replicaCount": 2},
        tolerations=[{"key": "axon", "operator": "Exists", "effect": "NoSchedule"}],
        extraEnv=[{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        config={"extra": {"AXON_FEATURE": "on"}},
    ),
    "no-kubeflow": with_connections(rbac={"kubeflow": False}),
    "operators": with_connections(
        operators={"spark": {"enabled": True}, "dask": {"enabled": True}, "ray": {"enabled": True}}
    ),
    "runs-elsewhere": with_connections(
        runner={"namespace": "ml-runs"},
        serviceAccount={"name": "axon-runner", "annotations": {"team": "ml"}},
    ),
}


def each_value_set() -> Any:
    return pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())


def objects_of(objects: Objects, kind: str) -> Objects:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Objects, kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [o for o in objects_of(objects, kind) if name in (None, o["metadata"]["name"])]
    return found


def deployment(objects: Objects, component: str) -> dict[str, Any]:
    return one(objects, "Deployment", f"axon-{component}")


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def secret_refs(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}


def role_grants(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


Render = Callable[[dict[str, Any]], Objects]


# Lint and validity.


def test_chart_with_its_own_defaults_passes_helm_lint_strict(helm_lint: Callable[..., str]) -> None:
    assert "0 chart(s) failed" in helm_lint({})


@each_value_set()
def test_chart_passes_helm_lint_strict(helm_lint: Callable[..., str], values: dict) -> None:
    assert "0 chart(s) failed" in helm_lint(values)


@each_value_set()
def test_every_rendered_object_is_valid_kubernetes(render: Render, values: dict) -> None:
    objects = render(values)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@each_value_set()
def test_every_object_is_labelled_and_placed_in_a_namespace(render: Render, values: dict) -> None:
    for obj in render(values):
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "axon"
        assert obj["metadata"]["namespace"]


def test_installing_without_database_and_broker_fails_naming_the_values(render: Render) -> None:
    with pytest.raises(HelmFailed, match="secrets.databaseUrl is required"):
        render({})
    with pytest.raises(HelmFailed, match="secrets.brokerUrl is required"):
        render({"secrets": {"databaseUrl": "postgresql://db/axon"}})


# The schema.


def test_schema_rejects_a_string_for_replicas(render: Render) -> None:
    with pytest.raises(HelmFailed) as failed:
        render(with_connections(api={"replicaCount": "three"}))
    assert "values don't meet the specifications of the schema" in str(failed.value)
    assert "api.replicaCount: Invalid type. Expected: integer, given: string" in str(failed.value)


def test_schema_rejects_a_misspelt_key(render: Render) -> None:
    with pytest.raises(HelmFailed, match="Additional property replicas is not allowed"):
        render(with_connections(worker={"replicas": 2}))


def test_schema_keeps_secret_settings_out_of_the_configmap(render: Render) -> None:
    with pytest.raises(HelmFailed, match="config.extra"):
        render(with_connections(config={"extra": {"AXON_GITHUB_TOKEN": "ghp_x"}}))


# The processes.


def test_each_component_runs_its_process(render: Render) -> None:
    objects = render(VALUE_SETS["defaults"])
    commands = {c: container(deployment(objects, c))["command"] for c in COMPONENTS}
    assert commands == {
        "api": ["gunicorn"],
        "worker": ["axon", "worker"],
        "scheduler": ["axon", "scheduler"],
        "agent": ["axon", "agent"],
    }
    api_args = container(deployment(objects, "api"))["args"]
    assert api_args[0] == "wsgi:app"
    assert api_args[api_args.index("--bind") + 1] == "0.0.0.0:8000"
    assert api_args[api_args.index("--worker-class") + 1] == "gthread"
    assert container(deployment(objects, "worker"))["args"] == ["--concurrency", "2"]


@each_value_set()
def test_every_deployment_reads_settings_from_the_configmap_and_the_secret(
    render: Render, values: dict
) -> None:
    objects = render(values)
    configmap = one(objects, "ConfigMap")["metadata"]["name"]
    secret = values["secrets"].get("existingSecret") or "axon"
    for component in COMPONENTS:
        c = container(deployment(objects, component))
        assert c["envFrom"] == [{"configMapRef": {"name": configmap}}]
        refs = secret_refs(c)
        required = REQUIRED_SECRET_KEYS + (API_ONLY_SECRET_KEYS if component == "api" else ())
        if component == "api":
            assert set(refs) == set(SECRET_KEYS)
        else:
            assert set(refs) == set(SECRET_KEYS) - set(API_ONLY_SECRET_KEYS)
        for key, ref in refs.items():
            assert (ref["name"], ref["key"]) == (secret, key)
            assert ref.get("optional", False) == (key not in required)


def test_configmap_holds_the_non_secret_settings(render: Render) -> None:
    data = one(render(VALUE_SETS["defaults"]), "ConfigMap")["data"]
    assert all(name.startswith("AXON_") for name in data)
    assert not set(data) & set(SECRET_KEYS)
    assert data["AXON_EMBEDDED"] == "false"
    assert data["AXON_RUNNER"] == "kubernetes"
    assert data["AXON_PUBLIC_URL"] == f"http://axon.{NAMESPACE}.svc:8000"
    assert data["AXON_MAX_BODY_BYTES"] == "26214400"


def test_secret_holds_the_connection_urls_and_keys(render: Render) -> None:
    data = one(render(VALUE_SETS["defaults"]), "Secret", "axon")["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    assert decoded == {
        "AXON_DATABASE_URL": "postgresql+psycopg2://axon:pw@db.example:5432/axon",
        "AXON_BROKER_URL": "amqp://axon:pw@mq.example:5672/axon",
        "AXON_SECRET_KEY": "a-long-random-secret-key",
        "AXON_API_TOKEN": decoded["AXON_API_TOKEN"],
        "AXON_GITHUB_TOKEN": "",
        "AXON_SLACK_WEBHOOK_URL": "",
    }


def test_a_secret_key_is_generated_when_none_is_given(render: Render) -> None:
    values = with_connections(secrets={"secretKey": ""})
    data = one(render(values), "Secret", "axon")["data"]
    assert len(base64.b64decode(data["AXON_SECRET_KEY"])) == 64


def test_an_api_token_is_generated_when_none_is_given(render: Render) -> None:
    data = one(render(VALUE_SETS["defaults"]), "Secret", "axon")["data"]
    token = base64.b64decode(data["AXON_API_TOKEN"]).decode()
    assert len(token) == 48 and token.isalnum()


def test_a_given_api_token_is_kept(render: Render) -> None:
    values = with_connections(secrets={"apiToken": "the-operators-token"})
    data = one(render(values), "Secret", "axon")["data"]
    assert base64.b64decode(data["AXON_API_TOKEN"]) == b"the-operators-token"


def test_an_existing_secret_replaces_the_charts_secrets(render: Render) -> None:
    objects = render(VALUE_SETS["existing-secret"])
    assert objects_of(objects, "Secret") == []
    job = one(objects, "Job")
    [database_url] = [e for e in container(job)["env"] if e["name"] == "AXON_DATABASE_URL"]
    assert database_url["valueFrom"]["secretKeyRef"]["name"] == "axon-settings"


def test_pods_roll_when_settings_change(render: Render) -> None:
    def checksums(values: dict[str, Any]) -> dict[str, str]:
        annotations = deployment(render(values), "worker")["spec"]["template"]["metadata"]
        return annotations["annotations"]

    before = checksums(VALUE_SETS["defaults"])
    assert checksums(with_connections(config={"logLevel": "DEBUG"})) != before
    changed_secret = with_connections(secrets={"githubToken": "ghp_new"})
    assert checksums(changed_secret)["checksum/secret"] != before["checksum/secret"]


# The API and how it is reached.


def test_api_is_probed_on_healthz_and_served_by_the_service(render: Render) -> None:
    objects = render(VALUE_SETS["defaults"])
    api = deployment(objects, "api")
    c = container(api)
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    for component in ("worker", "scheduler", "agent"):
        assert "readinessProbe" not in container(deployment(objects, component))
    service = one(objects, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_ingress_routes_its_host_to_the_api_over_tls(render: Render) -> None:
    objects = render(VALUE_SETS["ingress-tls"])
    ingress = one(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "axon-tls", "hosts": ["axon.example.com"]}]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert rule["host"] == "axon.example.com"
    assert path["backend"]["service"] == {"name": "axon", "port": {"number": 8000}}
    assert one(objects, "ConfigMap")["data"]["AXON_PUBLIC_URL"] == "https://axon.example.com"


def test_no_ingress_unless_enabled(render: Render) -> None:
    assert objects_of(render(VALUE_SETS["defaults"]), "Ingress") == []


# Scale, placement and security.


def test_each_component_gets_its_replicas_and_placement(render: Render) -> None:
    objects = render(VALUE_SETS["scaled"])
    replicas = {c: deployment(objects, c)["spec"]["replicas"] for c in COMPONENTS}
    assert replicas == {"api": 3, "worker": 5, "scheduler": 2, "agent": 2}
    worker = deployment(objects, "worker")["spec"]["template"]["spec"]
    assert worker["nodeSelector"] == {"pool": "cpu"}
    assert container(deployment(objects, "worker"))["args"] == ["--concurrency", "8"]
    api = container(deployment(objects, "api"))
    assert api["args"][api["args"].index("--workers") + 1] == "4"
    assert api["resources"]["limits"] == {"memory": "1Gi"}
    for component in COMPONENTS:
        pod = deployment(objects, component)["spec"]["template"]["spec"]
        assert pod["tolerations"] == [{"key": "axon", "operator": "Exists", "effect": "NoSchedule"}]
        assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in container(
            deployment(objects, component)
        )["env"]
    assert one(objects, "ConfigMap")["data"]["AXON_FEATURE"] == "on"


@each_value_set()
def test_pods_run_as_non_root_on_a_read_only_root_filesystem(render: Render, values: dict) -> None:
    objects = render(values)
    for workload in objects_of(objects, "Deployment") + objects_of(objects, "Job"):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        c = container(workload)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", "/var/lib/axon"} <= mounts


# RBAC.


def test_role_grants_exactly_what_the_runner_and_agent_need(render: Render) -> None:
    objects = render(VALUE_SETS["defaults"])
    role = one(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role_grants(role) == {
        ("batch", "jobs"): MANAGE,
        ("", "pods"): MANAGE,
        ("", "services"): MANAGE,
        ("", "services/proxy"): {"get", "create", "update", "patch", "delete"},
        ("apps", "deployments"): MANAGE,
        ("kubeflow.org", "pytorchjobs"): MANAGE,
        ("kubeflow.org", "tfjobs"): MANAGE,
        ("kubeflow.org", "mpijobs"): MANAGE,
        ("", "pods/log"): {"get"},
        ("", "events"): {"get", "list", "watch"},
        ("", "secrets"): {"create", "patch", "delete"},
    }
    assert objects_of(objects, "ClusterRole") == []


def test_role_without_kubeflow_grants_no_kubeflow_kinds(render: Render) -> None:
    grants = role_grants(one(render(VALUE_SETS["no-kubeflow"]), "Role"))
    assert {group for group, _ in grants} == {"", "batch", "apps"}


OPERATOR_GROUPS = {"sparkoperator.k8s.io", "kubernetes.dask.org", "ray.io"}


def test_role_grants_each_enabled_operators_kinds_and_the_runner_is_told(render: Render) -> None:
    objects = render(VALUE_SETS["operators"])
    grants = role_grants(one(objects, "Role"))
    assert {key: verbs for key, verbs in grants.items() if key[0] in OPERATOR_GROUPS} == {
        ("sparkoperator.k8s.io", "sparkapplications"): MANAGE,
        ("kubernetes.dask.org", "daskjobs"): MANAGE,
        ("kubernetes.dask.org", "daskclusters"): MANAGE,
        ("ray.io", "rayjobs"): MANAGE,
        ("ray.io", "rayclusters"): MANAGE,
    }
    assert one(objects, "ConfigMap")["data"]["AXON_KUBERNETES_OPERATORS"] == "dask,ray,spark"


def test_only_the_enabled_operator_is_granted(render: Render) -> None:
    objects = render(with_connections(operators={"ray": {"enabled": True}}))
    groups = {group for group, _ in role_grants(one(objects, "Role"))}
    assert groups & OPERATOR_GROUPS == {"ray.io"}
    assert one(objects, "ConfigMap")["data"]["AXON_KUBERNETES_OPERATORS"] == "ray"


def test_no_operator_is_granted_by_default(render: Render) -> None:
    objects = render(VALUE_SETS["defaults"])
    groups = {group for group, _ in role_grants(one(objects, "Role"))}
    assert not groups & OPERATOR_GROUPS
    assert one(objects, "ConfigMap")["data"]["AXON_KUBERNETES_OPERATORS"] == ""


@each_value_set()
def test_role_is_bound_to_the_service_account_of_the_pods(render: Render, values: dict) -> None:
    objects = render(values)
    account = one(objects, "ServiceAccount")["metadata"]["name"]
    binding = one(objects, "RoleBinding")
    assert binding["roleRef"]["name"] == one(objects, "Role")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]
    for component in COMPONENTS:
        pod = deployment(objects, component)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account


def test_runs_can_go_to_another_namespace(render: Render) -> None:
    objects = render(VALUE_SETS["runs-elsewhere"])
    assert one(objects, "Role")["metadata"]["namespace"] == "ml-runs"
    assert one(objects, "RoleBinding")["metadata"]["namespace"] == "ml-runs"
    assert one(objects, "ConfigMap")["data"]["AXON_KUBERNETES_NAMESPACE"] == "ml-runs"
    assert one(objects, "ServiceAccount")["metadata"]["annotations"] == {"team": "ml"}


# Migrations.


def test_migrations_run_before_install_and_upgrade_as_a_hook_job(render: Render) -> None:
    objects = render(VALUE_SETS["defaults"])
    job = one(objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    assert container(job)["command"] == ["axon", "db", "upgrade"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    # Hooks run before the release's Secret exists: the Job's own hook Secret comes first.
    hook_secret = one(objects, "Secret", "axon-migrations")
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    weight = int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"])
    assert weight < int(annotations["helm.sh/hook-weight"])
    [database_url] = [e for e in container(job)["env"] if e["name"] == "AXON_DATABASE_URL"]
    assert database_url["valueFrom"]["secretKeyRef"]["name"] == "axon-migrations"


def test_migrations_can_be_left_to_the_operator(render: Render) -> None:
    objects = render(with_connections(migrations={"enabled": False}))
    assert objects_of(objects, "Job") == []
    assert [s["metadata"]["name"] for s in objects_of(objects, "Secret")] == ["axon"]
