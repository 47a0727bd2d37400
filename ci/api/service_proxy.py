"""Open a service run through Axon: `/runs/<uuid>/service/<path>` forwards to the run's service.

Every method, the query string and the body (streamed both ways) go to the service through its
runner (Kubernetes: the API server's service proxy), so a TensorBoard or a notebook opens from
the run page with no kubectl and no port of its own. It is a page route: the login session
reaches it as well as a Bearer token, and whoever may read the run's project may open it. Axon's
own credentials never reach the service: the Authorization header and Axon's session cookie are
dropped on the way in, and the service cannot set Axon's session cookie on the way out.
Only a running service is reachable: one not running yet answers 409, an ended one 404. When
the runner's own account may not reach it (Kubernetes RBAC without `services/proxy`), 502 says
which permission is missing.
A WebSocket handshake is forwarded too (ci.api.service_upgrade), from this server's own pages
only: one whose Origin is another site is refused (403) before it reaches the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import Headers

from ci import runtime
from ci.api import service_upgrade
from ci.api.access import origin_is_ours
from ci.api.errors import ApiError
from ci.api.runs import get_run
from ci.runs import services
from runners.base import RunnerUnavailable
from runners.services import ServiceForbidden, ServiceRequest, ServiceUnreachable
from schemas.status import DONE, RunStatus

blueprint = Blueprint("service_proxy", __name__)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CHUNK = 64 * 1024
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, never to the next.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
) | {"upgrade"}
# Axon's own credentials, and what the next connection sets for itself, stay here.
DROPPED = HOP_BY_HOP | {"host", "content-length", "authorization", "cookie"}


# werkzeug routes a WebSocket handshake only to rules that say they take one (registered last:
# a link to the route is an http one).
@blueprint.route("/runs/<uuid>/service/", methods=["GET"], websocket=True)
@blueprint.route("/runs/<uuid>/service/<path:path>", methods=["GET"], websocket=True)
# `/runs/<uuid>/service` (the base path, as `--path_prefix` names it) redirects here.
@blueprint.route("/runs/<uuid>/service/", methods=METHODS)
@blueprint.route("/runs/<uuid>/service/<path:path>", methods=METHODS)
def forward(uuid: str, path: str = "") -> Any:
    upgrading = service_upgrade.requested(request)
    if upgrading and not origin_is_ours():
        raise ApiError(403, "a WebSocket to a service opens from Axon's own pages only")
    rt = runtime.get()
    with rt.db.session() as session:
        run = get_run(session, uuid)
        status, compiled = run.status, run.compiled
        runner_name, external_id = run.runner, run.external_id
    found = services.facts(compiled)
    if compiled is None and status not in DONE:
        raise ApiError(409, f"run {uuid} is {status}, not compiled yet: open it once it runs")
    if found is None:
        raise ApiError(404, f"run {uuid} is not a service (`run.kind: service`): it serves nothing")
    if found.port is None:
        raise ApiError(404, f"run.ports: run {uuid} declares no port to open")
    if status in DONE:
        raise ApiError(404, f"run {uuid} has ended ({status}): its service is gone")
    if status != RunStatus.RUNNING or not external_id:
        raise ApiError(409, f"run {uuid} is {status}, not running yet: open it once it runs")
    client = service_upgrade.client_socket(request.environ) if upgrading else None
    base = services.base_path(uuid).rstrip("/")
    sent = ServiceRequest(
        method=request.method,
        path=_service_path(path, base, found.rewrite_path),
        query=request.query_string.decode("latin-1"),
        headers=_headers_in(base, found.rewrite_path, upgrading),
        body=_body(request.stream) if _has_body() else None,
        port=found.port,
        upgrade=upgrading,
    )
    runner = rt.runner(runner_name)
    try:
        answer = runner.open_service(external_id, sent)
    except ServiceUnreachable as exc:
        raise ApiError(503, f"run {uuid}'s service cannot be reached now: {exc}") from exc
    except ServiceForbidden as exc:
        # Axon's own setup is at fault, not the caller's rights nor the service's state.
        raise ApiError(502, f"run {uuid}'s service cannot be opened: {exc}") from exc
    except RunnerUnavailable as exc:
        raise ApiError(503, f"runner {runner_name} cannot be reached now: {exc}") from exc
    if answer is None:
        raise ApiError(501, f"runner {runner_name} cannot open its runs' services")
    headers = Headers()
    for key, value in answer.headers:
        kept = _header_out(key, value, base, found.rewrite_path)
        if kept is not None:
            headers.add(key, kept)
    if client is not None and answer.upgraded is not None:
        return service_upgrade.switch(client, answer, headers.items())
    response = Response(answer.body, answer.status, headers, direct_passthrough=True)
    if "Content-Type" not in headers:
        del response.headers["Content-Type"]  # say nothing the service did not say
    response.call_on_close(answer.close)
    return response


def _service_path(path: str, base: str, rewrite: bool) -> str:
    """What the service is asked for: the path past the prefix (rewritePath), else all of it."""
    if rewrite:
        return "/" + path.lstrip("/")
    return base + "/" + path.lstrip("/")


def _headers_in(base: str, rewrite: bool, upgrading: bool = False) -> tuple[tuple[str, str], ...]:
    # A WebSocket's Origin was checked here; the service would compare it with the Host it
    # sees (the API server's pod address) and refuse, so it goes no further.
    dropped = DROPPED | {"origin"} if upgrading else DROPPED
    kept = [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]
    theirs = _their_cookies(request.headers.get("Cookie", ""))
    if theirs:
        kept.append(("Cookie", theirs))
    if request.content_length is not None:
        kept.append(("Content-Length", str(request.content_length)))
    kept += [("X-Forwarded-Host", request.host), ("X-Forwarded-Proto", request.scheme)]
    if rewrite:  # the service sees `/`: this says where the browser sees it
        kept.append(("X-Forwarded-Prefix", base))
    return tuple(kept)


def _their_cookies(header: str) -> str:
    """The request's cookies but Axon's session: the service's own (a notebook's XSRF cookie)
    pass, Axon's never does."""
    ours = current_app.config["SESSION_COOKIE_NAME"]
    pairs = (pair.strip() for pair in header.split(";"))
    return "; ".join(p for p in pairs if p and p.split("=", 1)[0].strip() != ours)


def _header_out(key: str, value: str, base: str, rewrite: bool) -> str | None:
    lowered = key.lower()
    if lowered in HOP_BY_HOP:
        return None
    if lowered == "set-cookie":
        name = value.split("=", 1)[0].strip()
        return None if name == current_app.config["SESSION_COOKIE_NAME"] else value
    if lowered == "location" and rewrite and value.startswith("/") and not value.startswith("//"):
        return base + value  # a redirect to the service's own root stays under the prefix
    return value


def _has_body() -> bool:
    return request.content_length is not None or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )


def _body(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk
