"""A scripted HTTP API on loopback: real sockets, expectations in, recorded requests out.

A test (or an end-to-end test whose server runs in another process) registers what the API
should answer with `expect()`, points the code under test at `double.url`, then reads
`double.requests` and calls `assert_no_outstanding()`:

    with HttpDouble() as api:
        api.expect("POST", "/repos/{owner}/{repo}/statuses/{sha}", status=500, times=1)
        api.expect("POST", "/repos/{owner}/{repo}/statuses/{sha}", json={"id": 1})
        ...  # the first call gets 500, the second 201
        api.assert_no_outstanding()
"""

from __future__ import annotations

import json as jsonlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema
from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# A header requirement: an exact value, a regex that must match somewhere, or None for "present".
HeaderRule = str | re.Pattern[str] | None
# A URI as RFC 3986 reads one: a scheme, then no space, control character or stray quote.
# An RFC 3339 date-time (with PagerDuty's "+0000" too).
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:?\d\d)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f\"<>\\^`{|}]*")
_CREDENTIAL_HEADERS = frozenset({"authorization", "private-token", "cookie", "x-api-key"})
Answer = Any  # a value, or a callable taking the RecordedRequest and returning the value


@dataclass(frozen=True)
class RecordedRequest:
    """One request the double received, and how it answered."""

    method: str
    path: str
    params: dict[str, str]  # the path pattern's {names}; empty when nothing matched
    query: dict[str, str]
    headers: Headers
    body: bytes
    json: Any  # the parsed body, or None when it is not JSON
    status: int  # what the double answered
    verdict: str  # "expected", "unexpected", "violation", or "error" (an answer callable failed)
    detail: str = ""  # why it was unexpected or a violation
    at: float = field(default_factory=time.time)  # when it arrived: retries are timed by it

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Expectation:
    """A route the double answers `times` times (None: without limit), in registration order."""

    method: str
    pattern: str
    status: int = 201
    json: Answer = None
    body: Answer = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1
    schema: dict[str, Any] | None = None
    require_headers: dict[str, HeaderRule] = field(default_factory=dict)
    delay: float = 0.0
    calls: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)
    max_bytes: int | None = None
    _validator: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self._regex = compile_pattern(self.pattern)
        if self.schema is not None:
            Validator.check_schema(self.schema)
            self._validator = Validator(self.schema, format_checker=FORMATS)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self._regex.fullmatch(path) if method == self.method else None
        return found.groupdict() if found else None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.calls >= self.times

    def problems(self, headers: Headers, body: bytes, parsed: Any) -> list[str]:
        """What is wrong with a request to this route: missing headers, an invalid body."""
        found = [
            _header_problem(name, rule, headers) for name, rule in self.require_headers.items()
        ]
        problems = [problem for problem in found if problem]
        if self.max_bytes is not None and len(body) > self.max_bytes:
            problems.append(f"body has {len(body)} bytes, more than {self.max_bytes}")
        declared = "json" in headers.get("Content-Type", "")
        if parsed is None and body and (declared or self._validator is not None):
            problems.append(f"body is not strict JSON: {body[:80]!r}")
        elif self._validator is not None:
            if parsed is None:
                problems.append("body is empty, not JSON")
            else:
                for error in self._validator.iter_errors(parsed):
                    problems.append(f"body at {error.json_path}: {error.message}")
        return problems

    def describe(self) -> str:
        limit = "unlimited" if self.times is None else f"{self.calls} of {self.times} calls"
        return f"{self.method} {self.pattern} -> {self.status} ({limit})"


def _max_bytes(validator: Any, limit: int, instance: Any, schema: dict[str, Any]) -> Any:
    # GitHub counts some limits in UTF-8 bytes, where JSON Schema's maxLength counts characters.
    if isinstance(instance, str) and len(instance.encode()) > limit:
        yield jsonschema.ValidationError(
            f"{len(instance.encode())} bytes in UTF-8, more than {limit}"
        )


# Draft 7 with `maxBytes`, and with `format` checked: `uri` (and PagerDuty's `url`) by an RFC
# 3986 pattern, since jsonschema checks `uri` only when the optional rfc3987 is installed.
Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"maxBytes": _max_bytes})
FORMATS = jsonschema.FormatChecker()
FORMATS.checks("uri")(lambda value: not isinstance(value, str) or bool(_URI.fullmatch(value)))
FORMATS.checks("url")(lambda value: not isinstance(value, str) or bool(_URI.fullmatch(value)))
FORMATS.checks("date-time")(
    lambda value: not isinstance(value, str) or bool(_DATE_TIME.fullmatch(value))
)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A path pattern ("/repos/{owner}/{repo}") as a regex: one named group per {segment}."""
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(
        f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(regex)


def _header_problem(name: str, rule: HeaderRule, headers: Headers) -> str:
    value = headers.get(name)
    if value is None:
        return f"header {name} missing"
    if rule is None or (rule.search(value) if isinstance(rule, re.Pattern) else value == rule):
        return ""
    # The problem is echoed back to the client, whose errors end up in logs: name no credential.
    if name.lower() in _CREDENTIAL_HEADERS or isinstance(rule, str):
        return f"header {name} has an unexpected value"
    return f"header {name} does not match {rule.pattern!r}"


class _QuietHandler(WSGIRequestHandler):
    # Tests read `.requests`; a log line per request would only bury pytest's output.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class HttpDouble:
    """A threaded HTTP server on 127.0.0.1, answering from expectations and recording all."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._expectations: list[Expectation] = []
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HttpDouble:
        self._stopping.clear()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        # A short poll keeps stop() (and so each test's teardown) from waiting half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # lets delayed answers go out now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> HttpDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    # -- scripting ---------------------------------------------------------------------------

    def expect(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 201,
        json: Answer = None,
        body: Answer = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
        schema: dict[str, Any] | None = None,
        require_headers: Mapping[str, HeaderRule] | None = None,
        delay: float = 0.0,
        max_bytes: int | None = None,
    ) -> Expectation:
        """Answer `times` matching requests with `status` and `json` or `body` (plain text).

        `json`/`body` may be callables taking the RecordedRequest. `schema` (JSON Schema, with
        `format` checked and `maxBytes` counting UTF-8 bytes), `require_headers` and
        `max_bytes` (of the whole body) are checked first, and a body declared as JSON must be
        strict JSON (no NaN or Infinity): a request failing them is a violation, answered by
        `reject()` without consuming the expectation. `delay` holds the answer (seconds).
        """
        expectation = Expectation(
            method,
            path_pattern,
            status=status,
            json=json,
            body=body,
            headers=dict(headers or {}),
            times=times,
            schema=schema,
            require_headers=dict(require_headers or {}),
            delay=delay,
            max_bytes=max_bytes,
        )
        with self._lock:
            self._expectations.append(expectation)
        return expectation

    def reset(self) -> None:
        """Forget every expectation and recorded request."""
        with self._lock:
            self._expectations.clear()
            self._requests.clear()

    def reject(self, request: RecordedRequest, problems: list[str]) -> Response:
        """The answer to a violation; subclasses speak their API's error format."""
        errors = [{"message": problem} for problem in problems]
        return Response(
            jsonlib.dumps({"message": "Validation Failed", "errors": errors}),
            status=422,
            content_type="application/json",
        )

    # -- reading -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def unexpected(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.verdict == "unexpected"]

    @property
    def violations(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.verdict == "violation"]

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        """The requests whose method and path match, in arrival order."""
        regex = compile_pattern(path_pattern)
        return [r for r in self.requests if r.method == method.upper() and regex.fullmatch(r.path)]

    def wait_for(
        self,
        until: int | Callable[[list[RecordedRequest]], bool],
        timeout: float = 5.0,
    ) -> list[RecordedRequest]:
        """Block until `until` requests arrived (or `until(requests)` holds); return them all."""

        def done() -> bool:
            if callable(until):
                return bool(until(list(self._requests)))
            return len(self._requests) >= until

        with self._lock:
            if not self._lock.wait_for(done, timeout):
                got = "\n  ".join(_line(r) for r in self._requests) or "(none)"
                raise AssertionError(
                    f"{type(self).__name__}: waited {timeout:g}s for {until!r}; got:\n  {got}"
                )
            return list(self._requests)

    def outstanding(self) -> list[str]:
        """Expectations not yet used up, unexpected requests and violations, one line each."""
        with self._lock:
            lines = [f"not called: {e.describe()}" for e in self._expectations if _owed(e)]
            lines += [f"{r.verdict}: {_line(r)}" for r in self._requests if r.detail]
        return lines

    def assert_no_outstanding(self) -> None:
        lines = self.outstanding()
        if lines:
            raise AssertionError(f"{type(self).__name__} at {self.url}:\n  " + "\n  ".join(lines))

    # -- serving -----------------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        parsed = _parse_json(body)
        headers = Headers(list(request.headers.items()))
        with self._lock:
            expectation, params, detail = self._select(request.method, request.path)
            problems = expectation.problems(headers, body, parsed) if expectation else []
            if expectation and not problems:
                expectation.calls += 1
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            params=params,
            query=dict(request.args.items()),
            headers=headers,
            body=body,
            json=parsed,
            status=0,
            verdict="violation" if problems else "unexpected" if detail else "expected",
            detail="; ".join(problems) or detail,
        )
        if expectation is None:
            response = Response(
                jsonlib.dumps({"message": f"no expectation: {detail}"}),
                status=501,
                content_type="application/json",
            )
        elif problems:
            response = self.reject(recorded, problems)
        else:
            try:
                response = _answer(expectation, recorded)
            except Exception as exc:  # a broken answer callable is a bug in the test: show it
                recorded = replace(recorded, verdict="error", detail=f"answer failed: {exc!r}")
                response = Response(repr(exc), status=500, content_type="text/plain")
        with self._lock:
            self._requests.append(replace(recorded, status=response.status_code))
            self._lock.notify_all()
        if expectation is not None and not problems and expectation.delay:
            self._stopping.wait(expectation.delay)
        return response(environ, start_response)

    def _select(self, method: str, path: str) -> tuple[Expectation | None, dict[str, str], str]:
        """The first matching expectation with calls left, its path params, or why none."""
        used_up = None
        for expectation in self._expectations:
            params = expectation.match(method, path)
            if params is None:
                continue
            if not expectation.exhausted:
                return expectation, params, ""
            used_up = expectation
        if used_up is not None:
            return None, {}, f"{method} {path} (every matching expectation used up)"
        return None, {}, f"{method} {path} (no expectation matches)"


def _answer(expectation: Expectation, request: RecordedRequest) -> Response:
    payload = expectation.json(request) if callable(expectation.json) else expectation.json
    text = expectation.body(request) if callable(expectation.body) else expectation.body
    if payload is not None:
        response = Response(jsonlib.dumps(payload), content_type="application/json")
    else:
        response = Response(text or b"", content_type="text/plain; charset=utf-8")
    response.status_code = expectation.status
    for name, value in expectation.headers.items():
        response.headers[name] = value
    return response


def _parse_json(body: bytes) -> Any:
    """The body as strict JSON (RFC 8259), or None: Python's own NaN and Infinity are not."""
    if not body:
        return None
    try:
        return jsonlib.loads(body, parse_constant=_refuse_constant)
    except ValueError:
        return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _owed(expectation: Expectation) -> bool:
    return expectation.times is not None and expectation.calls < expectation.times


def _line(request: RecordedRequest) -> str:
    detail = f" — {request.detail}" if request.detail else ""
    return f"{request.method} {request.path} -> {request.status}{detail}"
