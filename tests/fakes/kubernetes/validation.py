"""What the API server refuses with 422: the OpenAPI schema (strict) and the semantic rules.

The schema comes from kubernetes-validate, for the server's version; the rules an OpenAPI
schema cannot say (an image is required, a Job's restartPolicy is Never or OnFailure, a label
value is at most 63 characters…) are checked here with the real server's messages.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import importlib_resources
import jsonschema
import kubernetes_validate
from referencing import Registry
from referencing import Resource as SchemaResource

from tests.fakes.kubernetes.status import Cause, Invalid
from tests.fakes.kubernetes.store import Obj, Resource

_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage"}
_SUFFIXES = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
LABEL_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
DNS_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS_1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def schema_causes(obj: Obj, version: str) -> list[Cause]:
    """Every violation of the strict OpenAPI schema of the object's kind, one cause each."""
    validator = _validator(obj.get("kind", ""), obj.get("apiVersion", ""), version)
    if validator is None:
        return []
    causes = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        causes.extend(_schema_cause(error))
    return causes


def _schema_cause(error: jsonschema.ValidationError) -> Iterator[Cause]:
    path = field_path(error.path)
    if error.validator == "additionalProperties":
        for name in re.findall(r"'([^']+)'", error.message.split("(")[-1]):
            yield Cause(join(path, name), f'unknown field "{name}"', "FieldValueInvalid")
    elif error.validator == "required":
        for name in re.findall(r"^'([^']+)'", error.message):
            yield Cause(join(path, name), "Required value", "FieldValueRequired")
    else:
        shown = json.dumps(error.instance)[:80]
        yield Cause(path, f"Invalid value: {shown}: {error.message}", "FieldValueInvalid")


@functools.cache
def _validator(kind: str, api_version: str, version: str) -> jsonschema.Validator | None:
    schemas = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"
    wanted = tuple(int(part) for part in version.split(".")[:2])
    known = [
        v
        for v in kubernetes_validate.utils.all_versions()
        if tuple(int(part) for part in v.split(".")[:2]) <= wanted
    ]
    # Older servers than the oldest schema kubernetes-validate ships are checked against that
    # one, less the fields they did not have yet (`versions.too_new`).
    oldest = kubernetes_validate.utils.all_versions()[0]
    folder = schemas / f"v{known[-1] if known else oldest}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    target = folder / f"{kind.lower()}-{group}.json"
    if not kind or not target.is_file():
        return None
    schema = json.loads(target.read_text())
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry: Registry = SchemaResource.from_contents(schema) @ Registry()
    registry = SchemaResource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def field_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# -- the rules beyond the schema -------------------------------------------------------------


def check_metadata(resource: Resource, meta: Mapping[str, Any], problems: Invalid) -> None:
    name = meta.get("name") or ""
    if not name:
        problems.causes.append(
            Cause(
                "metadata.name",
                "Required value: name or generateName is required",
                "FieldValueRequired",
            )
        )
    elif resource.plural in ("services",):
        check_dns(name, "metadata.name", _DNS_1035, DNS_1035_MESSAGE, problems)
    elif resource.plural != "events":
        check_dns(name, "metadata.name", _SUBDOMAIN, SUBDOMAIN_MESSAGE, problems, limit=253)
        if resource.plural == "jobs" and len(name) > 63:
            problems.causes.append(
                Cause(
                    "metadata.name", f'Invalid value: "{name}": must be no more than 63 characters'
                )
            )
    check_labels(meta.get("labels"), "metadata.labels", problems)


def check_dns(
    value: str,
    path: str,
    pattern: re.Pattern[str],
    message: str,
    problems: Invalid,
    limit: int = 63,
) -> None:
    if len(value) > limit:
        problems.causes.append(
            Cause(path, f'Invalid value: "{value}": must be no more than {limit} characters')
        )
    elif not pattern.fullmatch(value):
        problems.causes.append(Cause(path, f'Invalid value: "{value}": {message}'))


def check_labels(labels: Mapping[str, Any] | None, path: str, problems: Invalid) -> None:
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (
            not _NAME_PART.fullmatch(name)
            or len(name) > 63
            or (prefix and not _SUBDOMAIN.fullmatch(prefix))
        ):
            problems.causes.append(
                Cause(
                    path,
                    f'Invalid value: "{key}": name part must consist of alphanumeric '
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character",
                )
            )
        if not isinstance(value, str):
            continue
        if len(value) > 63:
            problems.causes.append(
                Cause(path, f'Invalid value: "{value}": must be no more than 63 characters')
            )
        elif not _LABEL_VALUE.fullmatch(value):
            problems.causes.append(Cause(path, f'Invalid value: "{value}": {LABEL_MESSAGE}'))


def check_pod_spec(
    spec: Mapping[str, Any], path: str, problems: Invalid, restart_policies: tuple[str, ...]
) -> None:
    """Containers need a name (a DNS label, unique) and an image; resources must add up."""
    containers = spec.get("containers") or []
    if not containers:
        problems.causes.append(Cause(f"{path}.containers", "Required value", "FieldValueRequired"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            where = f"{path}.{group}[{index}]"
            name = container.get("name") or ""
            if not name:
                problems.causes.append(
                    Cause(f"{where}.name", "Required value", "FieldValueRequired")
                )
            elif name in seen:
                problems.causes.append(
                    Cause(f"{where}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
                )
            else:
                check_dns(name, f"{where}.name", _DNS_LABEL, DNS_LABEL_MESSAGE, problems)
            seen.add(name)
            if not container.get("image"):
                problems.causes.append(
                    Cause(f"{where}.image", "Required value", "FieldValueRequired")
                )
            check_resources(container.get("resources") or {}, f"{where}.resources", problems)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in restart_policies:
        supported = ", ".join(f'"{p}"' for p in restart_policies)
        problems.causes.append(
            Cause(
                f"{path}.restartPolicy",
                f'Unsupported value: "{policy}": supported values: {supported}',
                "FieldValueNotSupported",
            )
        )


def check_resources(resources: Mapping[str, Any], path: str, problems: Invalid) -> None:
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for name, value in {**requests, **limits}.items():
        if quantity(value) is None:
            problems.causes.append(
                Cause(
                    f"{path}.{'limits' if name in limits else 'requests'}[{name}]",
                    f'Invalid value: "{value}": must match the regex '
                    "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$",
                )
            )
            return
    for name, value in requests.items():
        extended = name not in _STANDARD_RESOURCES and not name.startswith("hugepages-")
        limit = limits.get(name)
        if extended and "/" in name:
            if limit is None:
                problems.causes.append(
                    Cause(
                        f"{path}.limits",
                        "Required value: Limit must be set for non overcommitable resources",
                        "FieldValueRequired",
                    )
                )
            elif quantity(limit) != quantity(value):
                problems.causes.append(
                    Cause(
                        f"{path}.requests[{name}]",
                        f'Invalid value: "{value}": must be equal to {name} limit of {limit}',
                    )
                )
        elif limit is not None and quantity(value) > quantity(limit):  # type: ignore[operator]
            problems.causes.append(
                Cause(
                    f"{path}.requests",
                    f'Invalid value: "{value}": must be less than or '
                    f"equal to {name} limit of {limit}",
                )
            )


def quantity(value: Any) -> Decimal | None:
    """A resource quantity ("500m", "2Gi", "1e3", 1) as a number, None when malformed."""
    match = re.fullmatch(r"([+-]?[0-9.]+)([a-zA-Z]*[-+]?[0-9]*)", str(value))
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2)
    if re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        return number * Decimal(10) ** int(suffix[1:])
    if suffix in _SUFFIXES:
        return number * Decimal(_SUFFIXES[suffix])
    return None
