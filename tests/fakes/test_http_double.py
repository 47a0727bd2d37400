"""HttpDouble: answers from expectations in order, records everything, reports what's off."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.github import GitHubDouble
from tests.fakes.http_double import HttpDouble
from tests.fakes.slack import SlackDouble

STATUS_SCHEMA = {
    "type": "object",
    "required": ["state"],
    "properties": {"state": {"enum": ["pending", "success"]}},
}


@pytest.fixture
def api() -> Iterator[HttpDouble]:
    with HttpDouble() as double:
        yield double


@pytest.fixture
def client() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_an_expected_request_gets_the_scripted_answer_and_is_recorded(api, client):
    api.expect(
        "POST",
        "/repos/{owner}/{repo}/statuses/{sha}",
        json={"id": 7},
        headers={"X-GitHub-Request-Id": "CAFE:1"},
    )

    answer = client.post(f"{api.url}/repos/octo/vision/statuses/abc123?x=1", json={"a": 1})

    assert (answer.status_code, answer.json()) == (201, {"id": 7})
    assert answer.headers["X-GitHub-Request-Id"] == "CAFE:1"
    [request] = api.requests
    assert request.params == {"owner": "octo", "repo": "vision", "sha": "abc123"}
    assert (request.query, request.json, request.verdict) == ({"x": "1"}, {"a": 1}, "expected")
    api.assert_no_outstanding()


def test_a_plain_text_answer_and_a_computed_one(api, client):
    api.expect("POST", "/hook", status=200, body="ok")
    api.expect("POST", "/echo", status=200, json=lambda request: {"got": request.json})

    assert client.post(f"{api.url}/hook", json={}).text == "ok"
    assert client.post(f"{api.url}/echo", json=[1]).json() == {"got": [1]}


def test_an_unexpected_request_is_answered_501_and_listed(api, client):
    answer = client.get(f"{api.url}/user")

    assert answer.status_code == 501
    assert [request.path for request in api.unexpected] == ["/user"]
    with pytest.raises(AssertionError, match=r"unexpected: GET /user -> 501"):
        api.assert_no_outstanding()


def test_an_expectation_never_called_is_listed(api):
    api.expect("POST", "/repos/{owner}/{repo}/statuses/{sha}", times=2)

    with pytest.raises(AssertionError, match=re.escape("not called: POST /repos/{owner}")):
        api.assert_no_outstanding()


def test_an_unlimited_expectation_is_never_outstanding(api, client):
    api.expect("GET", "/rate_limit", status=200, json={}, times=None)

    for _ in range(3):
        client.get(f"{api.url}/rate_limit")

    assert [request.status for request in api.requests] == [200, 200, 200]
    api.assert_no_outstanding()


def test_a_body_against_the_schema_is_answered_422_recorded_and_not_consumed(api, client):
    api.expect("POST", "/statuses/{sha}", schema=STATUS_SCHEMA)

    answer = client.post(f"{api.url}/statuses/abc", json={"state": "done"})

    assert answer.status_code == 422
    assert "'done' is not one of" in answer.json()["errors"][0]["message"]
    [violation] = api.violations
    assert violation.detail.startswith("body at $.state:")
    with pytest.raises(AssertionError) as caught:
        api.assert_no_outstanding()
    assert "violation: POST /statuses/abc -> 422" in str(caught.value)
    assert "not called: POST /statuses/{sha}" in str(caught.value)


def test_a_missing_required_header_is_a_violation(api, client):
    api.expect("POST", "/hook", require_headers={"Authorization": None})

    answer = client.post(f"{api.url}/hook", json={})

    assert answer.status_code == 422
    assert api.violations[0].detail == "header Authorization missing"


def test_expectations_for_one_route_are_used_in_the_order_registered(api, client):
    api.expect("POST", "/statuses/{sha}", status=500, times=1)
    api.expect("POST", "/statuses/{sha}", status=429, headers={"Retry-After": "7"}, times=1)
    api.expect("POST", "/statuses/{sha}", status=201, times=1)

    answers = [client.post(f"{api.url}/statuses/abc", json={}) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [500, 429, 201, 501]
    assert answers[1].headers["Retry-After"] == "7"
    assert "every matching expectation used up" in api.unexpected[0].detail


def test_requests_to_picks_one_route(api, client):
    api.expect("POST", "/a/{id}", times=2)
    api.expect("POST", "/b", times=1)

    for path in ("/a/1", "/b", "/a/2"):
        client.post(f"{api.url}{path}", json={})

    assert [r.path for r in api.requests_to("POST", "/a/{id}")] == ["/a/1", "/a/2"]
    assert api.requests_to("GET", "/a/{id}") == []


def test_wait_for_blocks_until_requests_sent_from_another_thread_arrive(api):
    api.expect("POST", "/hook", status=200, times=3)

    def send_three() -> None:
        with requests.Session() as session:
            for _ in range(3):
                session.post(f"{api.url}/hook", json={})

    sender = threading.Thread(target=send_three)
    sender.start()
    arrived = api.wait_for(3, timeout=5)
    sender.join()

    assert len(arrived) == 3
    assert api.wait_for(lambda got: got[-1].path == "/hook", timeout=1)[-1].status == 200


def test_wait_for_gives_up_with_what_it_saw(api):
    with pytest.raises(AssertionError, match=r"waited 0.05s for 1; got:\n  \(none\)"):
        api.wait_for(1, timeout=0.05)


def test_concurrent_requests_are_all_recorded(api):
    api.expect("POST", "/hook", status=200, times=20)

    def send() -> None:
        with requests.Session() as session:
            session.post(f"{api.url}/hook", json={})

    senders = [threading.Thread(target=send) for _ in range(20)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()

    assert len(api.requests) == 20
    api.assert_no_outstanding()


def test_reset_forgets_expectations_and_requests(api, client):
    api.expect("POST", "/hook", times=2)
    client.post(f"{api.url}/hook", json={})

    api.reset()

    assert api.requests == []
    api.assert_no_outstanding()


def test_the_github_double_refuses_a_status_without_the_token():
    with GitHubDouble(token="ghs_expected") as github, requests.Session() as client:
        github.expect_commit_status("octo", "vision")

        answer = client.post(
            f"{github.url}/repos/octo/vision/statuses/abc",
            json={"state": "success"},
            headers={"Accept": "application/vnd.github+json", "Authorization": "Bearer other"},
        )

        assert answer.status_code == 422
        assert github.violations[0].detail == "header Authorization has an unexpected value"
        assert "ghs_expected" not in answer.text


def test_the_github_double_answers_a_status_object_and_lists_statuses_by_sha():
    with GitHubDouble() as github, requests.Session() as client:
        github.expect_commit_status("octo", "vision", times=2)

        for sha in ("aaa", "bbb"):
            answer = client.post(
                f"{github.url}/repos/octo/vision/statuses/{sha}",
                json={"state": "pending", "target_url": None, "context": "axon/train"},
                headers={"Accept": "application/vnd.github+json"},
            )

        assert answer.json()["id"] == 2
        assert answer.json()["url"] == f"{github.url}/repos/octo/vision/statuses/bbb"
        assert github.statuses("bbb") == [
            {"state": "pending", "target_url": None, "context": "axon/train"}
        ]
        github.assert_no_outstanding()


def test_the_slack_double_answers_too_many_fields_as_slack_does():
    with SlackDouble() as slack, requests.Session() as client:
        slack.expect_message()
        fields = [{"type": "mrkdwn", "text": str(n)} for n in range(11)]

        answer = client.post(
            slack.webhook_url,
            json={"text": "hi", "blocks": [{"type": "section", "fields": fields}]},
        )

        assert (answer.status_code, answer.text) == (400, "invalid_blocks")
        assert "$.blocks[0].fields" in slack.violations[0].detail


def test_a_json_body_with_nan_or_infinity_is_a_violation_even_without_a_schema(api, client):
    api.expect("POST", "/events", status=202, times=None)
    headers = {"Content-Type": "application/json"}

    refused = [
        client.post(f"{api.url}/events", data=body, headers=headers)
        for body in (b'{"loss": NaN}', b'{"loss": Infinity}', b"[-Infinity]")
    ]
    taken = client.post(f"{api.url}/events", data=b'{"loss": "NaN"}', headers=headers)

    assert [answer.status_code for answer in refused] == [422, 422, 422]
    assert taken.status_code == 202
    assert all("not strict JSON" in request.detail for request in api.violations)


def test_max_bytes_in_a_schema_counts_utf_8_bytes_not_characters(api, client):
    schema = {"type": "object", "properties": {"summary": {"type": "string", "maxBytes": 8}}}
    api.expect("POST", "/check-runs", schema=schema, times=None)

    fits = client.post(f"{api.url}/check-runs", json={"summary": "🔥🔥"})
    over = client.post(f"{api.url}/check-runs", json={"summary": "🔥🔥🔥"})

    assert (fits.status_code, over.status_code) == (201, 422)
    assert "12 bytes in UTF-8, more than 8" in api.violations[0].detail


def test_a_uri_format_needs_an_absolute_uri(api, client):
    schema = {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}
    api.expect("POST", "/statuses", schema=schema, times=None)

    answers = [
        client.post(f"{api.url}/statuses", json={"url": url}).status_code
        for url in ("https://axon.example.com/runs/1", "/runs/1", "https://a b", "")
    ]

    assert answers == [201, 422, 422, 422]


def test_a_body_over_the_byte_limit_is_a_violation(api, client):
    api.expect("POST", "/enqueue", max_bytes=16, times=None)

    small = client.post(f"{api.url}/enqueue", data=b"x" * 16)
    large = client.post(f"{api.url}/enqueue", data=b"x" * 17)

    assert (small.status_code, large.status_code) == (201, 422)


def test_the_github_double_counts_a_check_run_summary_in_bytes():
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "test"}

    def create(summary: str) -> dict:
        return {
            "name": "axon/train",
            "head_sha": "abc",
            "output": {"title": "t", "summary": summary},
        }

    with GitHubDouble() as github, requests.Session() as client:
        github.expect_check_run("octo", "vision", times=None)
        url = f"{github.url}/repos/octo/vision/check-runs"
        # 65,534 and 65,536 bytes; both far fewer than 65,535 characters.
        fits = client.post(url, headers=headers, json=create("é" * 32767))
        over = client.post(url, headers=headers, json=create("🔥" * 16384))

    assert (fits.status_code, over.status_code) == (201, 422)
