"""Each kind's rules beyond its schema, with the server's messages, and what updates may change.

A Job's restartPolicy and selector, a Deployment's selector, a Service's ports; a Job's
template, a Deployment's selector and most of a pod's spec are immutable.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.fakes.kubernetes import kubeflow, operators
from tests.fakes.kubernetes.selectors import matches_selector_spec
from tests.fakes.kubernetes.status import Cause, Invalid
from tests.fakes.kubernetes.store import Obj, Resource
from tests.fakes.kubernetes.validation import check_labels, check_pod_spec

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
# Fields of a Job's spec that may change after creation; the rest are immutable.
_JOB_MUTABLE = {"parallelism", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "suspend"}
_JOB_MUTABLE |= {"backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "completions"}
_POD_MUTABLE = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"}


def _job_rules(job: Obj, problems: Invalid) -> None:
    spec = job.get("spec") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    check_labels(
        (template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels", problems
    )
    policy = pod_spec.get("restartPolicy")
    if policy is None:
        problems.causes.append(
            Cause(
                "spec.template.spec.restartPolicy",
                'Required value: valid values: "OnFailure", "Never"',
                "FieldValueRequired",
            )
        )
    elif policy == "Always":
        problems.causes.append(
            Cause(
                "spec.template.spec.restartPolicy",
                'Unsupported value: "Always": supported values: "OnFailure", "Never"',
                "FieldValueNotSupported",
            )
        )
    check_pod_spec(pod_spec, "spec.template.spec", problems, ("Always", "OnFailure", "Never"))
    if "podFailurePolicy" in spec and policy != "Never":
        problems.causes.append(
            Cause(
                "spec.template.spec.restartPolicy",
                f'Invalid value: "{policy}": only "Never" is supported when podFailurePolicy '
                "is specified",
            )
        )
    selector = spec.get("selector")
    labels = (template.get("metadata") or {}).get("labels") or {}
    generated = CONTROLLER_UID in labels or "controller-uid" in labels  # before 1.27: unprefixed
    if not spec.get("manualSelector") and selector and not generated:
        problems.causes.append(
            Cause(
                "spec.selector",
                f"Invalid value: {json.dumps(selector)}: `selector` not auto-generated",
            )
        )
    elif spec.get("manualSelector") and not matches_selector_spec(selector or {}, labels):
        problems.causes.append(_template_mismatch(labels))
    for name in ("backoffLimit", "completions", "parallelism", "ttlSecondsAfterFinished"):
        if isinstance(spec.get(name), int) and spec[name] < 0:
            problems.causes.append(
                Cause(
                    f"spec.{name}",
                    f"Invalid value: {spec[name]}: must be greater than or equal to 0",
                )
            )
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and deadline <= 0:
        problems.causes.append(
            Cause(
                "spec.activeDeadlineSeconds",
                f"Invalid value: {deadline}: must be greater than or equal to 1",
            )
        )


def _template_mismatch(labels: Obj) -> Cause:
    return Cause(
        "spec.template.metadata.labels",
        f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`",
    )


def _deployment_rules(deployment: Obj, problems: Invalid) -> None:
    spec = deployment.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    check_labels(labels, "spec.template.metadata.labels", problems)
    if not spec.get("selector"):
        problems.causes.append(Cause("spec.selector", "Required value", "FieldValueRequired"))
    elif not matches_selector_spec(spec["selector"], labels):
        problems.causes.append(_template_mismatch(labels))
    check_pod_spec(template.get("spec") or {}, "spec.template.spec", problems, ("Always",))


def _pod_rules(pod: Obj, problems: Invalid) -> None:
    policies = ("Always", "OnFailure", "Never")
    check_pod_spec(pod.get("spec") or {}, "spec", problems, policies)


def _service_rules(service: Obj, problems: Invalid) -> None:
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
        problems.causes.append(Cause("spec.ports", "Required value", "FieldValueRequired"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            problems.causes.append(
                Cause(f"spec.ports[{index}].name", "Required value", "FieldValueRequired")
            )
        elif name in names:
            problems.causes.append(
                Cause(
                    f"spec.ports[{index}].name", f'Duplicate value: "{name}"', "FieldValueDuplicate"
                )
            )
        names.add(name)
        if not 1 <= int(port.get("port") or 0) <= 65535:
            problems.causes.append(
                Cause(
                    f"spec.ports[{index}].port",
                    f"Invalid value: {port.get('port')}: must be between 1 and 65535, inclusive",
                )
            )


def no_rules(obj: Obj, problems: Invalid) -> None:
    pass


RULES: dict[str, Callable[[Obj, Invalid], None]] = {
    "pods": _pod_rules,
    "jobs": _job_rules,
    "deployments": _deployment_rules,
    "services": _service_rules,
    **{plural: kubeflow.rules for plural in kubeflow.PLURALS},
    **{plural: operators.rules for plural in operators.PLURALS},
}


def immutable(resource: Resource, old: Obj, new: Obj, problems: Invalid) -> None:
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if resource.plural == "jobs":
        for key in sorted(set(old_spec) | set(new_spec)):
            if key not in _JOB_MUTABLE and old_spec.get(key) != new_spec.get(key):
                shown = json.dumps(new_spec.get(key))[:120]
                problems.causes.append(
                    Cause(f"spec.{key}", f"Invalid value: {shown}: field is immutable")
                )
    elif resource.plural == "deployments" and old_spec.get("selector") != new_spec.get("selector"):
        shown = json.dumps(new_spec.get("selector"))
        problems.causes.append(
            Cause("spec.selector", f"Invalid value: {shown}: field is immutable")
        )
    elif resource.plural == "pods" and _pod_fixed(old_spec) != _pod_fixed(new_spec):
        problems.causes.append(
            Cause(
                "spec",
                "Forbidden: pod updates may not change fields other than "
                "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
                "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if "
                "it was previously negative)",
                "FieldValueForbidden",
            )
        )


def _pod_fixed(spec: Obj) -> Obj:
    fixed = {k: v for k, v in spec.items() if k not in _POD_MUTABLE}
    for group in ("initContainers", "containers"):
        if group in fixed:
            fixed[group] = [{**c, "image": None} for c in fixed[group]]
    return fixed
