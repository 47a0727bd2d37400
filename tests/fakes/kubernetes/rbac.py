"""RBAC refusals: the requests a test says the caller's role does not allow answer 403.

A real server authorizes every request by its attributes (user, verb, resource/subresource,
namespace) before it reads anything, and refuses with a `Forbidden` Status worded by the
apiserver's `responsewriters.Forbidden`: `<resource>[.<group>] ["<name>"] is forbidden: User
"<user>" cannot <verb> resource "<resource>[/<sub>]" in API group "<group>" in the namespace
"<ns>"` (or `at the cluster scope`). Everything not denied here is allowed, as the double's
callers are otherwise trusted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tests.fakes.kubernetes.status import ApiError

# The agent's account as the Helm chart names it: what a real refusal to Axon says.
AGENT_USER = "system:serviceaccount:axon:axon-agent"

# The verb a request's HTTP method is authorized as, for a subresource such as services/proxy.
METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update"}
METHOD_VERBS |= {"PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Denial:
    """`verb` ("*": every verb) on `resource` ("jobs", "services/proxy") in `namespace`
    (None: every namespace, and the cluster scope) is not allowed."""

    verb: str
    resource: str
    namespace: str | None = None

    def covers(self, verb: str, resource: str, namespace: str | None) -> bool:
        return (
            self.verb in (verb, "*")
            and self.resource == resource
            and self.namespace in (None, namespace)
        )


class Rbac:
    """The denials in force; `check` raises the server's 403 for a denied request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.denials: list[Denial] = []
        self.user = AGENT_USER

    def deny(self, denial: Denial) -> None:
        with self._lock:
            self.denials.append(denial)

    def allow(self, denial: Denial) -> None:
        with self._lock:
            self.denials = [d for d in self.denials if d != denial]

    def check(
        self, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> None:
        """Raise `forbidden` when a denial covers the request; `resource` may name a
        subresource ("services/proxy")."""
        with self._lock:
            denied = any(d.covers(verb, resource, namespace) for d in self.denials)
        if denied:
            raise forbidden(self.user, verb, group, resource, namespace, name)


def forbidden(
    user: str, verb: str, group: str, resource: str, namespace: str | None, name: str | None
) -> ApiError:
    """The 403 a real server sends: the Status names the resource without its subresource,
    the message names both."""
    plural = resource.split("/", 1)[0]
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    why = f'User "{user}" cannot {verb} resource "{resource}" in API group "{group}" {scope}'
    qualified = f"{plural}.{group}" if group else plural
    named = f'{qualified} "{name}"' if name else qualified
    details: dict[str, str] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = plural
    return ApiError(403, "Forbidden", f"{named} is forbidden: {why}", details)
