"""The HTTP side of the double: the Kubernetes REST paths, verbs and answers, on loopback.

`/api/v1/…` and `/apis/{group}/{version}/…`, namespaced and cluster-wide: get, list, watch,
create, update (PUT), patch (merge, strategic as merge, JSON patch, apply), delete and
deletecollection, the `/status` subresource, pod logs, the service proxy (`service_proxy`), and
enough discovery for `/version`. A request the test's RBAC denials cover (`rbac`) is refused
with a 403 before anything else is looked at.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from werkzeug.wrappers import Request, Response

from tests.fakes.kubernetes import status
from tests.fakes.kubernetes.cluster import Cluster
from tests.fakes.kubernetes.discovery import discovery
from tests.fakes.kubernetes.params import flag, number, resource_version
from tests.fakes.kubernetes.patches import PatchError, json_patch, merge_patch
from tests.fakes.kubernetes.rbac import METHOD_VERBS, Rbac
from tests.fakes.kubernetes.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from tests.fakes.kubernetes.service_proxy import PROXY_PATH, ServiceBackends
from tests.fakes.kubernetes.status import ApiError
from tests.fakes.kubernetes.store import RESOURCES, Expired, Obj, Resource
from tests.fakes.kubernetes.streams import LogStream, WatchStream

_PATH = re.compile(
    r"/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>status|log))?)?"
)
_MERGE = "application/merge-patch+json"
_STRATEGIC = "application/strategic-merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_APPLY = "application/apply-patch+yaml"
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
_REASONS |= {409: "Conflict", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError"}
_REASONS |= {503: "ServiceUnavailable", 504: "Timeout"}
_WITH_BODY = frozenset({"create", "update", "patch", "delete"})


@dataclass(frozen=True)
class Route:
    resource: Resource
    namespace: str | None
    name: str | None
    sub: str

    @property
    def label(self) -> str:
        return self.resource.plural + (f"/{self.sub}" if self.sub else "")


@dataclass(frozen=True)
class Call:
    """One API request as `KubernetesDouble.requests` records it."""

    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    resource: str  # "jobs", "jobs/status", "pods/log"
    namespace: str | None
    name: str | None
    status: int
    query: dict[str, str]
    body: Any = None  # what a create, update, patch or delete sent, decoded


@dataclass
class Fault:
    """The next `times` matching calls fail with `code`, or (code None) answer after `delay`."""

    verb: str
    resource: str
    code: int | None
    times: int
    message: str = ""
    retry_after: int | None = None
    delay: float = 0.0


class ApiServer:
    """The WSGI application; `KubernetesDouble` serves it on a thread."""

    def __init__(
        self, cluster: Cluster, *, version: str, watch_timeout: float, bookmark_interval: float
    ) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.version = version
        self.watch_timeout = watch_timeout
        self.bookmark_interval = bookmark_interval
        self.calls: Counter[tuple[str, str]] = Counter()
        self.requests: list[Call] = []
        self.faults: list[Fault] = []
        self.stopping = threading.Event()
        self.kills = 0  # bumped by kill_connections(): streams started before it end
        # API groups not installed (yet): their paths answer 404, as before a CRD is applied.
        self.absent_groups: set[str] = set()
        self.service_backends = ServiceBackends()
        self.rbac = Rbac()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        verb, label, route = "get", request.path, None
        self.cluster.admission.fields.begin(request.args.get("fieldValidation"))
        try:
            through = PROXY_PATH.fullmatch(request.path)
            if through is not None:  # authorized before it reaches the Service, as for real
                verb = METHOD_VERBS.get(request.method, request.method.lower())
                label = "services/proxy"
                self.rbac.check(verb, "", label, through["namespace"], through["service"])
            proxied = self.service_backends.proxy(request, self.store)
            if proxied is not None:
                return proxied(environ, start_response)
            route = self._route(request.path)
            verb = self._verb(request, route)
            label = route.label if route else request.path.rstrip("/")
            if route is not None:
                group, namespace = route.resource.group, route.namespace
                self.rbac.check(verb, group, label, namespace, route.name)
            self._inject(verb, label)
            response = self._dispatch(request, route, verb)
        except ApiError as error:
            response = Response(
                json.dumps(error.body()), error.code, content_type="application/json"
            )
            for key, value in error.headers.items():
                response.headers[key] = value
        for warning in self.cluster.admission.fields.warnings():
            quoted = warning.replace('"', '\\"')
            response.headers.add("Warning", f'299 - "{quoted}"')  # as the apiserver words it
        with self.store.cond:
            self.calls[(verb, label)] += 1
            namespace, name = (route.namespace, route.name) if route else (None, None)
            query = dict(request.args.items())
            sent = _sent(request) if verb in _WITH_BODY else None
            self.requests.append(
                Call(verb, label, namespace, name, response.status_code, query, sent)
            )
        return response(environ, start_response)

    # -- routing -----------------------------------------------------------------------------

    def _route(self, path: str) -> Route | None:
        """The resource a path names; None for a discovery path (/version, /apis…)."""
        if discovery(path, self.version) is not None:
            return None
        match = _PATH.fullmatch(path.rstrip("/"))
        if match is None:
            raise status.page_not_found()
        parts = match.groupdict()
        resource = RESOURCES.get(parts["plural"])
        group, version = parts["group"] or "", parts["version"] or parts["core"]
        if resource is None or (resource.group, resource.version) != (group, version):
            raise status.page_not_found()
        if resource.group in self.absent_groups:
            raise status.page_not_found()
        if parts["sub"] == "log" and resource.plural != "pods":
            raise status.page_not_found()
        if parts["sub"] == "status" and not resource.status_subresource:
            raise status.page_not_found()
        return Route(resource, parts["namespace"], parts["name"], parts["sub"] or "")

    @staticmethod
    def _verb(request: Request, route: Route | None) -> str:
        method = request.method
        if route is None or method == "GET":
            if route is not None and route.name is None:
                return "watch" if flag(request.args, "watch") else "list"
            return "get"
        if method == "POST" and route.name is None:
            return "create"
        if method == "DELETE":
            return "delete" if route.name is not None else "deletecollection"
        if method in ("PUT", "PATCH") and route.name is not None:
            return "update" if method == "PUT" else "patch"
        raise status.method_not_allowed()

    def _inject(self, verb: str, label: str) -> None:
        with self.store.cond:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.times and f.verb in (verb, "*") and f.resource in (label, "*")
                ),
                None,
            )
            if fault is None:
                return
            fault.times -= 1
        if fault.delay:
            self.stopping.wait(fault.delay)  # real seconds: a slow first byte
        if fault.code is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            reason = _REASONS.get(fault.code, "InternalError")
            raise ApiError(fault.code, reason, fault.message, headers=headers)

    def _dispatch(self, request: Request, route: Route | None, verb: str) -> Response:
        if route is None:
            if request.method != "GET":
                raise status.method_not_allowed()
            return _json(discovery(request.path, self.version))
        if route.namespace is None and verb not in ("list", "watch"):
            raise status.page_not_found()
        handler = getattr(self, f"_{verb}")
        return handler(request, route)

    # -- verbs -------------------------------------------------------------------------------

    def _get(self, request: Request, route: Route) -> Response:
        if route.sub == "log":
            return LogStream(self, route.namespace or "", route.name or "", request.args).response()
        return _json(self._existing(route))

    def _list(self, request: Request, route: Route) -> Response:
        args = request.args
        labels, fields = self._selectors(request, route)
        limit = number(args, "limit")
        token = args.get("continue") or ""
        with self.store.cond:
            rv = self.store.rv
            start = ""
            try:
                if token:
                    rv, start = _decode_token(token)
                    self.store.check_fresh(rv)
                elif args.get("resourceVersion") not in (None, "", "0") and (
                    args.get("resourceVersionMatch") == "Exact" or limit
                ):
                    self.store.check_fresh(resource_version(args["resourceVersion"]))
            except Expired as error:
                raise status.expired(_continue_expired() if token else str(error)) from None
            objects = [
                obj
                for obj in self.store.list(route.resource.plural, route.namespace)
                if labels.matches(obj["metadata"].get("labels"))
                and fields.matches(obj)
                and _key(obj) > start
            ]
        metadata: dict[str, Any] = {"resourceVersion": str(self.store.rv if not token else rv)}
        if limit and len(objects) > limit:
            objects, rest = objects[:limit], len(objects) - limit
            metadata["continue"] = _encode_token(rv, _key(objects[-1]))
            metadata["remainingItemCount"] = rest
        builtin = route.resource.builtin
        items = [_item(obj) if builtin else obj for obj in objects]
        return _json(
            {
                "kind": f"{route.resource.kind}List",
                "apiVersion": route.resource.api_version,
                "metadata": metadata,
                "items": items,
            }
        )

    def _watch(self, request: Request, route: Route) -> Response:
        labels, fields = self._selectors(request, route)
        return WatchStream(self, route, request.args, labels, fields).response()

    def _create(self, request: Request, route: Route) -> Response:
        body = _body(request)
        if route.sub:
            raise status.method_not_allowed()
        if request.args.get("dryRun") == "All":
            obj = self.cluster.admission.create(route.resource, body, route.namespace or "")
            return _json(obj, 201)
        return _json(self.cluster.create(route.resource.plural, body, route.namespace or ""), 201)

    def _update(self, request: Request, route: Route) -> Response:
        if route.sub == "log":
            raise status.method_not_allowed()
        return _json(self._write(request, route, _body(request)))

    def _patch(self, request: Request, route: Route) -> Response:
        if route.sub == "log":
            raise status.method_not_allowed()
        kind = (request.content_type or "").split(";")[0].strip()
        accepted = [_JSON_PATCH, _MERGE, _APPLY] + ([_STRATEGIC] if route.resource.builtin else [])
        if kind not in accepted:
            raise status.unsupported_media_type(accepted)
        raw = request.get_data(as_text=True)
        try:
            patch = yaml.safe_load(raw) if kind == _APPLY else json.loads(raw or "null")
        except (ValueError, yaml.YAMLError) as error:
            raise status.bad_request(f"error decoding patch: {error}") from None
        with self.store.cond:
            current = self.store.get(route.resource.plural, route.namespace or "", route.name or "")
            if current is None and kind == _APPLY:
                return _json(
                    self.cluster.create(route.resource.plural, patch, route.namespace or ""), 201
                )
            if current is None:
                raise status.not_found(route.resource, route.name or "")
            try:
                patched = (
                    json_patch(current, patch)
                    if kind == _JSON_PATCH
                    else merge_patch(current, patch)
                )
            except PatchError as error:
                raise ApiError(error.code, _REASONS[error.code], str(error)) from None
            return _json(self._write(request, route, patched))

    def _write(self, request: Request, route: Route, body: Any) -> Obj:
        namespace, name = route.namespace or "", route.name or ""
        if request.args.get("dryRun") == "All":
            old = self._existing(route)
            return self.cluster.admission.update(route.resource, old, body, route.sub)
        return self.cluster.update(route.resource.plural, namespace, name, body, route.sub)

    def _delete(self, request: Request, route: Route) -> Response:
        if route.sub:
            raise status.method_not_allowed()
        options = _body(request, required=False) or {}
        propagation = request.args.get("propagationPolicy") or options.get("propagationPolicy")
        if propagation is None and "orphanDependents" in options:
            propagation = "Orphan" if options["orphanDependents"] else "Background"
        grace = number(request.args, "gracePeriodSeconds")
        grace = options.get("gracePeriodSeconds") if grace is None else grace
        if request.args.get("dryRun") == "All":
            return _json(self._existing(route))
        obj, gone = self.cluster.delete(
            route.resource.plural,
            route.namespace or "",
            route.name or "",
            propagation,
            grace,
            options.get("preconditions"),
        )
        if gone and not route.resource.returns_deleted:
            return _json(status.success(route.resource, obj))
        return _json(obj)

    def _deletecollection(self, request: Request, route: Route) -> Response:
        labels, fields = self._selectors(request, route)
        with self.store.cond:
            for obj in self.store.list(route.resource.plural, route.namespace):
                if labels.matches(obj["metadata"].get("labels")) and fields.matches(obj):
                    meta = obj["metadata"]
                    self.cluster.delete(
                        route.resource.plural,
                        meta["namespace"],
                        meta["name"],
                        request.args.get("propagationPolicy"),
                    )
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})

    # -- helpers -----------------------------------------------------------------------------

    def _existing(self, route: Route) -> Obj:
        obj = self.store.get(route.resource.plural, route.namespace or "", route.name or "")
        if obj is None:
            raise status.not_found(route.resource, route.name or "")
        return obj

    @staticmethod
    def _selectors(request: Request, route: Route) -> tuple[Any, Any]:
        try:
            return (
                parse_label_selector(request.args.get("labelSelector")),
                parse_field_selector(request.args.get("fieldSelector"), route.resource.plural),
            )
        except SelectorError as error:
            raise status.bad_request(str(error)) from None


def _json(payload: Any, code: int = 200) -> Response:
    return Response(json.dumps(payload), code, content_type="application/json")


def _body(request: Request, required: bool = True) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        if required:
            raise status.bad_request("the body of the request was empty")
        return None
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise status.bad_request(
                f"the body of the request could not be decoded: {error}"
            ) from None


def _sent(request: Request) -> Any:
    """The request's body for the record; None when it has none or it cannot be decoded."""
    try:
        return _body(request, required=False)
    except ApiError:
        return None


def _item(obj: Obj) -> Obj:
    """A list item as a real server sends it: without kind and apiVersion."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def _key(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _encode_token(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError):
        raise status.bad_request("continue key is not valid: incorrect encoded start key") from None


def _continue_expired() -> str:
    return (
        "The provided continue parameter is too old to display a consistent list result. You can "
        "start a new list without the continue parameter, or use the continue token in this "
        "response to retrieve the remainder of the results. Continuing with the provided token "
        "results in an inconsistent list - objects that were created, modified, or deleted "
        "between the time the first chunk was returned and now may show up in the list."
    )
