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
