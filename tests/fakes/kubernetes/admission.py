"""What the API server does to an object before storing it: type, names, defaults, validation."""

from __future__ import annotations

import base64
import copy
import ipaddress
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.fakes.kubernetes import kubeflow, operators
from tests.fakes.kubernetes.rules import RULES, immutable, no_rules
from tests.fakes.kubernetes.status import Cause, Invalid, bad_request, modified
from tests.fakes.kubernetes.store import Obj, Resource
from tests.fakes.kubernetes.validation import (
    check_labels,
    check_metadata,
    quantity,
    schema_causes,
)
from tests.fakes.kubernetes.versions import (
    FIELD_VALIDATION,
    JOB_SUSPEND,
    PREFIXED_LABELS,
    REPLACEMENT_POLICY,
    FieldValidation,
    ServerVersion,
    drop_field,
    too_new,
)

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the server's generateName draws from
_READ_ONLY_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
_DELETION_META = ("deletionTimestamp", "deletionGracePeriodSeconds")
JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name")
_TOLERATIONS = [
    {
        "key": f"node.kubernetes.io/{taint}",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    }
    for taint in ("not-ready", "unreachable")
]


def generated_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


class Admission:
    """Defaulting and validation for creates and updates, as a server of `version` does them."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.server = ServerVersion.parse(version)
        self.fields = FieldValidation()
        self._next_ip = int(ipaddress.IPv4Address("10.96.0.10"))

    def create(self, resource: Resource, body: Any, namespace: str) -> Obj:
        obj = self._typed(resource, body)
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        for key in _READ_ONLY_META + _DELETION_META:
            meta.pop(key, None)
        meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generated_name(meta["generateName"])
        meta["uid"] = str(uuid.uuid4())
        _decodable(resource, obj)
        problems = Invalid(self._known(obj, schema_causes(obj, self.version)))
        malformed = bool(problems.causes)  # the rules below assume the schema's types
        check_metadata(resource, meta, problems)
        if not malformed:
            _DEFAULTS.get(resource.plural, _no_defaults)(self, obj)
            RULES.get(resource.plural, no_rules)(obj, problems)
        if problems.causes:
            raise problems.error(resource, meta.get("name") or meta.get("generateName", ""))
        return obj

    def update(self, resource: Resource, old: Obj, body: Any, subresource: str = "") -> Obj:
        """The new state for a PUT or PATCH of `old`; Conflict when the body's RV is stale."""
        new = self._typed(resource, body)
        meta, old_meta = new.setdefault("metadata", {}), old["metadata"]
        if meta.get("name", old_meta["name"]) != old_meta["name"]:
            raise bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({old_meta['name']})"
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta.get("resourceVersion"):
            raise modified(resource, old_meta["name"])
        for key in ("name", "namespace", *_READ_ONLY_META, *_DELETION_META):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if subresource == "status":
            new = {**copy.deepcopy(old), "status": new.get("status")}
        elif resource.status_subresource and "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        _decodable(resource, new)
        problems = Invalid(self._known(new, schema_causes(new, self.version)))
        malformed = bool(problems.causes)
        check_labels(meta.get("labels"), "metadata.labels", problems)
        if not malformed:
            _DEFAULTS.get(resource.plural, _no_defaults)(self, new, update=True)
            RULES.get(resource.plural, no_rules)(new, problems)
            immutable(resource, old, new, problems)
        if problems.causes:
            raise problems.error(resource, old_meta["name"])
        return new

    @staticmethod
    def _typed(resource: Resource, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the body of the request could not be decoded as an object")
        obj = copy.deepcopy(body)
        for key, expected in (("kind", resource.kind), ("apiVersion", resource.api_version)):
            if obj.get(key) in (None, ""):
                obj[key] = expected
            elif obj[key] != expected:
                raise bad_request(
                    f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                    f"expected API version ({resource.api_version})"
                    if key == "apiVersion"
                    else f"the kind in the data ({obj[key]}) does not match the kind of the "
                    f"request ({resource.kind})"
                )
        return {"kind": obj.pop("kind"), "apiVersion": obj.pop("apiVersion"), **obj}

    def _known(self, obj: Obj, causes: list[Cause]) -> list[Cause]:
        """The causes that refuse the object. Unknown fields refuse it only when a server with
        field validation is asked for `Strict`; otherwise they are dropped (with a warning,
        unless asked to `Ignore` them, on such a server; silently on an older one)."""
        for path in too_new(obj, self.server):
            causes = [*causes, Cause(path, f'unknown field "{path.rpartition(".")[2]}"')]
        unknown = [c for c in causes if c.message.startswith("unknown field")]
        validating = self.server.has(FIELD_VALIDATION)
        if not unknown or (validating and self.fields.mode == "Strict"):
            return causes
        for cause in unknown:
            drop_field(obj, cause.field)
            if validating and self.fields.mode != "Ignore":
                self.fields.warn(f'unknown field "{cause.field}"')
        return [c for c in causes if c not in unknown]

    def allocate_ip(self) -> str:
        self._next_ip += 1
        return str(ipaddress.IPv4Address(self._next_ip))


def _decodable(resource: Resource, obj: Obj) -> None:
    """A malformed quantity fails the server's decoding of the body, before any validation:
    400 BadRequest, not 422 (seen on 1.20; later versions word it alike)."""
    for container in _containers(obj.get("spec")):
        resources = container.get("resources") or {}
        for group in ("requests", "limits"):
            for value in (resources.get(group) or {}).values():
                if quantity(value) is None:
                    raise bad_request(
                        f'{resource.kind} in version "{resource.version}" cannot be handled as '
                        f"a {resource.kind}: quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
                    )


def _containers(node: Any) -> Iterator[Obj]:
    """The containers and init containers of every pod spec under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


# -- defaults --------------------------------------------------------------------------------


def default_pod_spec(spec: Obj, restart_policy: str | None = "Always") -> None:
    """The pod spec defaults; a Job's template gets no restartPolicy (it must say which)."""
    if restart_policy is not None:
        spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            image = container.get("image", "")
            tag = image.rsplit("/", 1)[-1]
            latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
            container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})
            for port in container.get("ports") or []:
                port.setdefault("protocol", "TCP")


def _default_pod(admission: Admission, pod: Obj, update: bool = False) -> None:
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault("tolerations", copy.deepcopy(_TOLERATIONS))
    if not update:
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}


def qos_class(spec: Obj) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def _default_job(admission: Admission, job: Obj, update: bool = False) -> None:
    spec, meta = job.setdefault("spec", {}), job["metadata"]
    if not update:
        if "completions" not in spec and "parallelism" not in spec:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        server = admission.server
        if server.has(JOB_SUSPEND):
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("suspend", False)
        if server.has(REPLACEMENT_POLICY):
            failed_only = "podFailurePolicy" in spec
            policy = "Failed" if failed_only else "TerminatingOrFailed"
            spec.setdefault("podReplacementPolicy", policy)
        template = spec.setdefault("template", {})
        if not spec.get("manualSelector"):
            if "selector" in spec:
                return  # refused by the rules below
            prefixed = server.has(PREFIXED_LABELS)
            uid_key = JOB_LABELS[0] if prefixed else "controller-uid"
            spec["selector"] = {"matchLabels": {uid_key: meta["uid"]}}
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            for key in (JOB_LABELS[0], "controller-uid")[not prefixed :]:
                labels[key] = meta["uid"]
            for key in (JOB_LABELS[1], "job-name")[not prefixed :]:
                labels[key] = meta["name"]
        job.setdefault("status", {})
    default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}), None)


def _default_deployment(admission: Admission, deployment: Obj, update: bool = False) -> None:
    spec = deployment.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type") == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
    default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    deployment.setdefault("status", {})


def _default_service(admission: Admission, service: Obj, update: bool = False) -> None:
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = admission.allocate_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    service.setdefault("status", {"loadBalancer": {}})


def _default_secret(admission: Admission, secret: Obj, update: bool = False) -> None:
    """stringData is write-only: the server merges it into data, base64-encoded."""
    data = secret.setdefault("data", {})
    for key, value in (secret.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    secret.setdefault("type", "Opaque")


def _no_defaults(admission: Admission, obj: Obj, update: bool = False) -> None:
    pass


_DEFAULTS: dict[str, Callable[..., None]] = {
    "pods": _default_pod,
    "jobs": _default_job,
    "deployments": _default_deployment,
    "services": _default_service,
    "secrets": _default_secret,
    **{plural: kubeflow.default for plural in kubeflow.PLURALS},
    **{plural: operators.default for plural in operators.PLURALS},
}
