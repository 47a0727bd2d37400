"""The API's errors as `Status` bodies: NotFound 404, AlreadyExists 409, Invalid 422, Expired."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fakes.kubernetes.store import Resource


@dataclass(frozen=True)
class Cause:
    """One field problem of an Invalid answer."""

    field: str
    message: str  # "Required value", 'Unsupported value: "Always": supported values: …'
    reason: str = "FieldValueInvalid"

    def text(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(Exception):
    """An answer other than success; `body()` is the Status the server sends."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(resource: Resource, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    message = f'{resource.qualified} "{name}" not found'
    return ApiError(404, "NotFound", message, _details(resource, name))


def already_exists(resource: Resource, name: str) -> ApiError:
    message = f'{resource.qualified} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(resource, name))


def conflict(resource: Resource, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {resource.qualified} "{name}": {why}'
    return ApiError(409, "Conflict", message, _details(resource, name))


def modified(resource: Resource, name: str) -> ApiError:
    why = (
        "the object has been modified; please apply your changes to the latest version and try "
        "again"
    )
    return conflict(resource, name, why)


@dataclass
class Invalid:
    """Field problems collected during admission, turned into one 422 by `error()`."""

    causes: list[Cause] = field(default_factory=list)

    def error(self, resource: Resource, name: str) -> ApiError:
        kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
        texts = [cause.text() for cause in self.causes]
        listed = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        details = {
            "name": name,
            **({"group": resource.group} if resource.group else {}),
            "kind": resource.kind,
            "causes": [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in self.causes
            ],
        }
        return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {listed}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(accepted: list[str]) -> ApiError:
    message = (
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}"
    )
    return ApiError(415, "UnsupportedMediaType", message)


def page_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def success(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """What DELETE answers when the object is gone at once and the kind does not return it."""
    details = _details(resource, obj["metadata"]["name"])
    details["uid"] = obj["metadata"].get("uid", "")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
