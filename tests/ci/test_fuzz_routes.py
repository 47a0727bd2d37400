"""Whatever a caller sends to any route, the answer is never a 5xx: a bad request is a 4xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter, Rule

from ci.runs import dispatch
from tests.ci.factories import OPERATION, setup_project, subscription
from tests.conftest import fixture_bytes, github_headers
from webhooks.generic import sign as generic_sign
from webhooks.registry import providers

SECRET = "topsecret"
# Derandomized: the same requests every run, so a failure is reproducible and CI stays green
# or red for a reason. The counts keep the two tests within about half a minute each.
PER_ROUTE = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
WEBHOOKS = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
CONTENT_TYPES = (
    "application/json",
    "application/yaml",
    "text/yaml",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/vnd.docker.distribution.events.v1+json",
    "",
)

# Text as callers write it, and the kinds that have broken servers: NUL, very long values,
# path tricks, numbers out of any column's range.
nasty_text = st.one_of(
    st.text(max_size=24),
    st.sampled_from(
        ["", " ", "\x00", "a\x00b", "..", "%00", "x" * 300, "-1", "0", "99999999999999999999"]
    ),
)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(nasty_text, st.sampled_from(list(subscription()))), children, max_size=4
        ),
    ),
    max_leaves=12,
)


def mostly(known: list[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values that reach past the first lookup three times in four, `other` otherwise."""
    return st.one_of(st.sampled_from(known), st.sampled_from(known), st.sampled_from(known), other)


@st.composite
def document(draw: st.DrawFn) -> Any:
    """A random JSON value, or a valid subscription or operation with one part replaced."""
    kind = draw(st.sampled_from(["random", "subscription", "operation", "deep"]))
    if kind == "random":
        return draw(json_value)
    if kind == "deep":
        # Deeper still comes as raw bytes (body_bytes): this test's own json would recurse.
        depth = draw(st.sampled_from([65, 150]))
        return json.loads("[" * depth + "]" * depth)
    doc = json.loads(json.dumps(subscription(draw(st.sampled_from(["fuzzed", "train-on-main"])))))
    target = doc if kind == "subscription" else doc["operation"]
    key = draw(st.sampled_from([*target, "report", "concurrency", "schedule", "unknown"]))
    target[key] = draw(json_value)
    return doc


def body_bytes(draw: st.DrawFn, content_type: str) -> bytes:
    shape = draw(st.sampled_from(["json", "json", "raw", "empty", "nested"]))
    if shape == "raw":
        return draw(st.binary(max_size=64))
    if shape == "empty":
        return b""
    if shape == "nested":
        depth = draw(st.sampled_from([200, 500, 1000, 3000]))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    value = draw(document())
    if "yaml" in content_type and draw(st.booleans()):
        import yaml

        return yaml.safe_dump(value, allow_unicode=True).encode("utf-8", "surrogatepass")
    return json.dumps(value).encode("utf-8", "surrogatepass")


def api_rules(app: Any) -> list[Rule]:
    return sorted(
        (r for r in app.url_map.iter_rules() if not r.rule.startswith("/webhooks/")),
        key=lambda r: r.rule,
    )


@st.composite
def api_request(draw: st.DrawFn, rules: list[Rule], known: dict[str, list[str]]) -> dict[str, Any]:
    rule = draw(st.sampled_from(rules))
    allowed = sorted(rule.methods - {"HEAD", "OPTIONS"})
    method = draw(st.sampled_from(allowed) if draw(st.integers(0, 9)) else st.sampled_from(METHODS))
    values = {}
    for name in rule.arguments:
        if isinstance(rule._converters[name], IntegerConverter):
            values[name] = str(draw(st.integers(min_value=0, max_value=2**70)))
        else:
            values[name] = draw(mostly(known.get(name, ["x"]), nasty_text))
    path = rule.rule
    for name, value in values.items():
        converter = "int:" if isinstance(rule._converters[name], IntegerConverter) else ""
        path = path.replace(f"<{converter}{name}>", quote(value, safe=""))
    value = mostly(["-1", "0", "true", "vision", "9" * 30], nasty_text)
    known_keys = {key: value for key in ("limit", "status", "project", "prune")}
    query = draw(st.fixed_dictionaries({}, optional=known_keys))
    query |= draw(st.dictionaries(nasty_text, nasty_text, max_size=1))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    return {
        "method": method,
        "path": path + ("?" + urlencode(query) if query else ""),
        "data": body_bytes(draw, content_type),
        "headers": {"Content-Type": content_type} if content_type else {},
    }


@st.composite
def webhook_request(draw: st.DrawFn) -> dict[str, Any]:
    provider, source = draw(
        mostly(["github/gh", "generic/generic", "gitlab/gitlab"], st.just("")).flatmap(
            lambda known: (
                st.just(tuple(known.split("/")))
                if known
                else st.tuples(st.sampled_from([*providers.names(), "nope"]), nasty_text)
            )
        )
    )
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    body = body_bytes(draw, content_type)
    if draw(st.integers(0, 3)) == 0:
        body = fixture_bytes("webhooks/github/push_branch_commits.json")
    headers: dict[str, str] = {"Content-Type": content_type} if content_type else {}
    signing = draw(st.sampled_from(["github", "generic", "token", "none"]))
    delivery = draw(
        st.sampled_from(["d-1", "x" * 129, "a.b", "é"]) | nasty_text.filter(header_safe)
    )
    if signing == "github":
        events = st.sampled_from(["push", "pull_request", "ping", "issue_comment"])
        event = draw(events | nasty_text.filter(header_safe))
        headers |= github_headers(event, body, SECRET, delivery=delivery or None)
        headers.pop("Content-Type", None)
    elif signing == "generic":
        stamp = draw(st.sampled_from([None, 0, 2**40]))
        headers |= generic_sign(SECRET, body, stamp, delivery=delivery)
    elif signing == "token":
        headers |= {
            "X-Gitlab-Token": SECRET,
            "X-Gitlab-Event": "Push Hook",
            "Authorization": SECRET,
        }
    extra = draw(
        st.dictionaries(
            st.sampled_from(["X-Axon-Delivery", "X-Request-Id", "X-Custom"]), nasty_text, max_size=2
        )
    )
    headers |= {k: v for k, v in extra.items() if header_safe(v)}
    return {
        "method": "POST",
        "path": f"/webhooks/{quote(provider, safe='')}/{quote(source, safe='')}",
        "data": body,
        "headers": headers,
    }


@pytest.fixture
def world(client: Any, db: Any, enqueued: Any) -> dict[str, list[str]]:
    """A project with sources, a subscription and a run: values a path can name that exist."""
    setup_project(client, secret=SECRET)
    for provider in ("generic", "gitlab"):
        source = {"name": provider, "provider": provider, "secret": SECRET}
        assert client.post("/api/v1/projects/vision/sources", json=source).status_code == 201
    body = fixture_bytes("webhooks/github/push_branch_commits.json")
    response = client.post(
        "/webhooks/github/gh", data=body, headers=github_headers("push", body, SECRET)
    )
    with db.session() as session:
        [run_id] = dispatch.process_delivery(session, response.json["delivery"])
    runs = client.get("/api/v1/runs").json
    return {
        "name": ["vision", "train-on-main", "missing"],
        "project_name": ["vision", "missing"],
        "uuid": [runs[0]["uuid"], "0" * 32],
        "action": ["pause", "resume", "stop"],
        "delivery_id": [str(response.json["delivery"])],
        "operation": [json.dumps(OPERATION)],
        "run": [str(run_id)],
    }


def header_safe(value: str) -> bool:
    # HTTP servers refuse control characters in header values before the app sees them.
    return value.isprintable() and value.isascii()


def send(client: Any, request: dict[str, Any]) -> Any:
    response = client.open(
        request["path"], method=request["method"], data=request["data"], headers=request["headers"]
    )
    assert response.status_code < 500, (request, response.status_code, response.get_data()[:300])
    return response


# Fifty requests to each of the app's 140-odd routes: about 40 s on a quiet machine, so the
# suite's two-minute limit per test would be a measure of the machine's load, not of the app.
@pytest.mark.timeout(600)
def test_no_api_route_answers_a_5xx_whatever_it_is_sent(app, client, world):
    for rule in api_rules(app):

        @PER_ROUTE
        @given(request=api_request([rule], world))
        def fuzz(request: dict[str, Any]) -> None:
            send(client, request)

        fuzz()


def test_no_webhook_endpoint_answers_a_5xx_whatever_it_is_sent(client, world):
    @WEBHOOKS
    @given(request=webhook_request())
    def fuzz(request: dict[str, Any]) -> None:
        send(client, request)

    fuzz()
