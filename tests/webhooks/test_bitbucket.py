"""Bitbucket Cloud deliveries: signatures against the vectors; pushes and PRs as Events."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from schemas.errors import PayloadError, SignatureError
from tests.conftest import load_json, sign
from tests.contracts.webhook import WebhookProviderContract
from tests.webhooks.conftest import signature_vectors, vector_body, without
from webhooks.bitbucket import BitbucketProvider

VECTORS = signature_vectors("bitbucket-cloud")
ZERO_SHA = "0" * 40


def cloud_headers(event_key: str, body: bytes, secret: str | None = "topsecret") -> dict[str, str]:
    """Headers as Bitbucket Cloud sends them (see tests/fixtures/README.md)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": event_key,
        "X-Hook-UUID": "{2bd4cd4a-2f5c-4c2f-9a5e-0f0c1e3b8f7d}",
        "X-Request-UUID": str(uuid.uuid4()),
        "X-Attempt-Number": "1",
    }
    if secret is not None:
        headers["X-Hub-Signature"] = sign(secret, body)
    return headers


def parse(event_key: str, payload: dict[str, Any]) -> list:
    body = json.dumps(payload).encode()
    return BitbucketProvider().parse(cloud_headers(event_key, body), body)


def recorded_push() -> dict[str, Any]:
    return load_json("webhooks/bitbucket/cloud_repo_push.json")


def recorded_pull_request() -> dict[str, Any]:
    return load_json("webhooks/bitbucket/cloud_pullrequest_created.json")


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_every_bitbucket_cloud_signature_vector_is_judged_as_published(vector):
    headers = {vector["header"]: vector["expected"]}
    if vector["valid"]:
        BitbucketProvider().verify(headers, vector_body(vector), vector["secret"])
    else:
        with pytest.raises(SignatureError):
            BitbucketProvider().verify(headers, vector_body(vector), vector["secret"])


def test_a_signature_made_with_another_secret_is_refused():
    [vector] = VECTORS
    headers = {vector["header"]: vector["expected"]}
    with pytest.raises(SignatureError, match="does not match"):
        BitbucketProvider().verify(headers, vector_body(vector), "not-the-secret")


def test_a_sha1_signature_is_refused_because_bitbucket_signs_with_sha256():
    with pytest.raises(SignatureError, match="sha256=<hex>"):
        BitbucketProvider().verify({"X-Hub-Signature": "sha1=abc"}, b"{}", "topsecret")


def test_a_non_ascii_signature_is_refused_not_crashed_on():
    with pytest.raises(SignatureError, match="does not match"):
        BitbucketProvider().verify({"X-Hub-Signature": "sha256=é"}, b"{}", "topsecret")


def test_a_source_without_a_secret_verifies_nothing():
    body = b"{}"
    with pytest.raises(SignatureError, match="no secret"):
        BitbucketProvider().verify({"X-Hub-Signature": sign("", body)}, body, "")


def test_a_branch_push_becomes_a_push_event():
    [event] = parse("repo:push", recorded_push())
    assert (event.kind, event.repo, event.ref, event.branch, event.tag) == (
        "push",
        "brydzewski/foo",
        "refs/heads/master",
        "master",
        "",
    )
    assert event.sha == "141977fedf5cf35aa290ac87d4b5177ac4cd9de1"
    assert event.before == "40e7580cf11311d84a6e5e97e2cbba6df1675750"
    assert (event.actor, event.message) == ("brydzewski", "Update README\n")
    assert (event.created, event.deleted, event.forced) == (False, False, False)
    assert event.changed_paths is None
    assert event.clone_url == "https://bitbucket.org/brydzewski/foo.git"


def test_a_new_branch_is_created_from_no_commit():
    payload = recorded_push()
    payload["push"]["changes"][0].update(old=None, created=True)
    [event] = parse("repo:push", payload)
    assert event.created and event.before == ZERO_SHA and event.branch == "master"


def test_a_change_without_new_deletes_the_branch_named_by_old():
    payload = recorded_push()
    payload["push"]["changes"][0].update(new=None, closed=True)
    [event] = parse("repo:push", payload)
    assert (event.deleted, event.branch, event.sha) == (True, "master", ZERO_SHA)
    assert event.before == "40e7580cf11311d84a6e5e97e2cbba6df1675750"


def test_a_tag_push_becomes_a_tag_event():
    payload = recorded_push()
    change = payload["push"]["changes"][0]
    change["new"].update(type="tag", name="v1.0.0")
    change["old"] = None
    [event] = parse("repo:push", payload)
    assert (event.kind, event.ref, event.tag, event.branch) == (
        "tag",
        "refs/tags/v1.0.0",
        "v1.0.0",
        "",
    )


def test_a_forced_push_is_marked_forced():
    payload = recorded_push()
    payload["push"]["changes"][0]["forced"] = True
    [event] = parse("repo:push", payload)
    assert event.forced


def test_a_push_of_several_refs_becomes_one_event_per_ref():
    payload = recorded_push()
    tag = copy.deepcopy(payload["push"]["changes"][0])
    tag["new"].update(type="tag", name="v2")
    payload["push"]["changes"].append(tag)
    assert [(e.kind, e.ref) for e in parse("repo:push", payload)] == [
        ("push", "refs/heads/master"),
        ("tag", "refs/tags/v2"),
    ]


def test_a_push_without_the_new_commit_hash_names_the_missing_field():
    payload = recorded_push()
    del payload["push"]["changes"][0]["new"]["target"]["hash"]
    expected = "bitbucket repo:push: field 'push.changes[0].new.target.hash' missing"
    with pytest.raises(PayloadError) as raised:
        parse("repo:push", payload)
    assert str(raised.value) == expected


def test_a_push_without_repository_names_the_missing_field():
    with pytest.raises(PayloadError, match="field 'repository.full_name' missing"):
        parse("repo:push", without(recorded_push(), "repository"))


def test_an_opened_pull_request_becomes_a_pull_request_event():
    [event] = parse("pullrequest:created", recorded_pull_request())
    pr = event.pull_request
    assert (event.kind, event.repo, event.branch, event.sha) == (
        "pull_request",
        "brydzewski/foo",
        "master",
        "507a576e59b3",
    )
    assert (pr.number, pr.action, pr.base, pr.head) == (1, "opened", "master", "develop")
    assert (pr.draft, pr.fork, pr.merged) == (False, False, False)
    assert (event.ref, event.actor, event.message) == (
        "refs/heads/develop",
        "brydzewski",
        "Awesome new feature",
    )
    assert event.url == "https://bitbucket.org/brydzewski/foo/pull-requests/1"


@pytest.mark.parametrize(
    ("event_key", "action", "merged"),
    [
        ("pullrequest:updated", "synchronize", False),
        ("pullrequest:fulfilled", "closed", True),
        ("pullrequest:rejected", "closed", False),
    ],
)
def test_pull_request_actions_take_githubs_words(event_key, action, merged):
    [event] = parse(event_key, recorded_pull_request())
    assert (event.pull_request.action, event.pull_request.merged) == (action, merged)


def test_a_pull_request_from_another_repository_is_a_fork_cloned_from_there():
    payload = recorded_pull_request()
    source = payload["pullrequest"]["source"]["repository"]
    source["full_name"] = "mallory/foo"
    source["links"]["html"]["href"] = "https://bitbucket.org/mallory/foo"
    [event] = parse("pullrequest:created", payload)
    assert event.pull_request.fork
    assert event.repo == "brydzewski/foo"
    assert event.clone_url == "https://bitbucket.org/mallory/foo.git"


def test_a_draft_pull_request_is_marked_draft():
    payload = recorded_pull_request()
    payload["pullrequest"]["draft"] = True
    [event] = parse("pullrequest:created", payload)
    assert event.pull_request.draft


def test_a_pull_request_comment_becomes_a_comment_event_with_its_text():
    payload = recorded_pull_request()
    payload["comment"] = {"id": 17, "content": {"raw": "/train lr=0.1", "markup": "markdown"}}
    [event] = parse("pullrequest:comment_created", payload)
    assert (event.kind, event.comment) == ("comment", "/train lr=0.1")
    assert (event.pull_request.number, event.pull_request.action) == (1, "comment")


def test_a_comment_without_text_names_the_missing_field():
    with pytest.raises(PayloadError, match="field 'comment.content.raw' missing"):
        parse("pullrequest:comment_created", recorded_pull_request())


def test_a_pull_request_without_an_id_names_the_missing_field():
    payload = without(recorded_pull_request(), "pullrequest.id")
    with pytest.raises(PayloadError, match="bitbucket pullrequest:created: field 'pullrequest.id'"):
        parse("pullrequest:created", payload)


def test_other_events_start_nothing():
    assert parse("repo:fork", recorded_push()) == []


def test_a_delivery_without_an_event_key_is_a_payload_error():
    with pytest.raises(PayloadError, match="'X-Event-Key' missing"):
        BitbucketProvider().parse({"Content-Type": "application/json"}, b"{}")


def test_the_delivery_id_is_the_request_uuid():
    headers = cloud_headers("repo:push", b"{}")
    assert BitbucketProvider().delivery_id(headers) == headers["X-Request-UUID"]


class TestBitbucketProviderContract(WebhookProviderContract):
    @pytest.fixture
    def provider(self):
        return BitbucketProvider()

    @pytest.fixture
    def signed(self):
        return lambda body: {"X-Hub-Signature": sign("topsecret", body)}

    @pytest.fixture
    def sample(self):
        body = json.dumps(recorded_push()).encode()
        return cloud_headers("repo:push", body), body
