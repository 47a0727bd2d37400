"""Gitea deliveries: signatures against the published vectors, recorded events into Events."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from schemas.errors import PayloadError, SignatureError
from tests.conftest import FIXTURES, fixture_bytes, load_json
from tests.contracts.webhook import WebhookProviderContract
from tests.webhooks.conftest import gitea_headers, signature_vectors, vector_body, without
from webhooks.gitea import GiteaProvider

VECTORS = signature_vectors("gitea")
RECORDED = sorted(path.stem for path in (FIXTURES / "webhooks/gitea").glob("*.json"))


def _parse_payload(event: str, payload: dict) -> list:
    body = json.dumps(payload).encode()
    return GiteaProvider().parse(gitea_headers(event, body, "topsecret"), body)


def _pull_request(**changes) -> dict:
    """The recorded opened pull request, with `changes` set on its pull_request object."""
    payload = load_json("webhooks/gitea/pull_request_opened.json")
    payload["pull_request"].update(changes)
    return payload


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_every_gitea_signature_vector_is_judged_as_published(vector):
    headers = {vector["header"]: vector["expected"]}
    if vector["valid"]:
        GiteaProvider().verify(headers, vector_body(vector), vector["secret"])
    else:
        with pytest.raises(SignatureError, match="does not match"):
            GiteaProvider().verify(headers, vector_body(vector), vector["secret"])


def test_there_are_gitea_vectors_of_both_kinds_and_both_headers():
    assert {v["valid"] for v in VECTORS} == {True, False}
    assert {v["header"] for v in VECTORS} == {"X-Gitea-Signature", "X-Hub-Signature-256"}


def _sha1_only(body: bytes) -> dict[str, str]:
    digest = hmac.new(b"topsecret", body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={digest}"}


def test_a_sha1_only_signature_is_refused_unless_the_source_allows_legacy():
    body = fixture_bytes("webhooks/gitea/push.json")
    with pytest.raises(SignatureError, match="requires SHA-256"):
        GiteaProvider().verify(_sha1_only(body), body, "topsecret")
    GiteaProvider(allow_legacy_signatures=True).verify(_sha1_only(body), body, "topsecret")


def test_a_wrong_sha1_signature_is_refused_even_when_legacy_is_allowed():
    body = fixture_bytes("webhooks/gitea/push.json")
    provider = GiteaProvider(allow_legacy_signatures=True)
    with pytest.raises(SignatureError, match="does not match"):
        provider.verify(_sha1_only(body + b" "), body, "topsecret")


def test_a_source_without_a_secret_verifies_nothing(gitea_delivery):
    headers, body = gitea_delivery("push", secret="")
    with pytest.raises(SignatureError, match="no secret"):
        GiteaProvider().verify(headers, body, "")


def test_a_non_ascii_signature_is_refused_not_crashed_on():
    with pytest.raises(SignatureError):
        GiteaProvider().verify({"X-Gitea-Signature": "\u00e9"}, b"{}", "topsecret")


def test_the_delivery_id_is_the_gitea_delivery_header(gitea_delivery):
    headers, _ = gitea_delivery("push")
    assert GiteaProvider().delivery_id(headers) == headers["X-Gitea-Delivery"]


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_gitea_delivery_parses_into_events_of_gitea(name, gitea_delivery):
    events = GiteaProvider().parse(*gitea_delivery(name))
    assert events and all(e.provider == "gitea" for e in events)


def test_a_first_push_becomes_a_created_push_event(gitea_delivery):
    [event] = GiteaProvider().parse(*gitea_delivery("push"))
    assert (event.kind, event.repo) == ("push", "example/example")
    assert (event.branch, event.tag) == ("master", "")
    assert (event.sha, event.created, event.deleted) == (
        "67b56589a45103f891bdee7c0546e5d40bc02001",
        True,
        False,
    )
    assert (event.actor, event.message) == ("example", "example\n")
    assert event.changed_paths == ("example",)
    assert event.clone_url == "http://localhost:3000/example/example.git"


def test_a_push_that_gitea_shortened_lists_no_changed_files():
    payload = load_json("webhooks/gitea/push.json") | {"total_commits": 7}
    [event] = _parse_payload("push", payload)
    assert event.changed_paths is None


def test_a_form_encoded_delivery_parses_like_json(gitea_delivery):
    _, body = gitea_delivery("push")
    form = urlencode({"payload": body.decode()}).encode()
    headers = gitea_headers("push", form, "topsecret")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    [event] = GiteaProvider().parse(headers, form)
    assert (event.kind, event.branch) == ("push", "master")


def test_creating_a_branch_becomes_a_create_event_with_the_branch(gitea_delivery):
    [event] = GiteaProvider().parse(*gitea_delivery("create_branch"))
    assert (event.kind, event.branch, event.ref) == ("create", "master", "refs/heads/master")
    assert (event.repo, event.actor) == ("example/example", "example")
    assert event.sha == "67b56589a45103f891bdee7c0546e5d40bc02001"


def test_deleting_a_tag_becomes_a_deleted_delete_event():
    payload = load_json("webhooks/gitea/create_branch.json") | {"ref": "v1", "ref_type": "tag"}
    [event] = _parse_payload("delete", payload)
    assert (event.kind, event.tag, event.deleted) == ("delete", "v1", True)


def test_an_opened_pull_request_from_a_fork_names_number_branches_and_head_sha(gitea_delivery):
    [event] = GiteaProvider().parse(*gitea_delivery("pull_request_opened"))
    pr = event.pull_request
    assert (event.kind, event.repo) == ("pull_request", "example/example")
    assert (pr.number, pr.action, pr.base, pr.head) == (2, "opened", "master", "master")
    assert (pr.labels, pr.draft, pr.fork, pr.merged) == ((), False, True, False)
    assert event.sha == "48e773f892a831faa47c0a160d1b7f0cd369ae2a"
    assert (event.actor, event.message) == ("example2", "update")
    assert event.clone_url == "http://localhost:3000/example/example.git"


def test_giteas_synchronized_becomes_githubs_synchronize(gitea_delivery):
    [event] = GiteaProvider().parse(*gitea_delivery("pull_request_synchronized"))
    assert event.pull_request.action == "synchronize"
    assert (event.pull_request.number, event.pull_request.fork) == (1, False)


def test_an_edited_pull_request_keeps_its_action_and_drops_the_secret_from_raw(gitea_delivery):
    [event] = GiteaProvider().parse(*gitea_delivery("pull_request_edited"))
    assert (event.pull_request.action, event.repo) == ("edited", "jcitizen/my-repo")
    assert "secret" not in event.raw


@pytest.mark.parametrize(
    ("gitea_action", "action"), [("label_updated", "labeled"), ("label_cleared", "unlabeled")]
)
def test_label_actions_take_githubs_words(gitea_action, action):
    payload = _pull_request(labels=[{"id": 1, "name": "gpu"}]) | {"action": gitea_action}
    [event] = _parse_payload("pull_request", payload)
    assert (event.pull_request.action, event.pull_request.labels) == (action, ("gpu",))


def test_a_merged_pull_request_is_closed_and_merged():
    payload = _pull_request(merged=True, state="closed") | {"action": "closed"}
    [event] = _parse_payload("pull_request", payload)
    assert (event.pull_request.action, event.pull_request.merged) == ("closed", True)


@pytest.mark.parametrize(
    "changes",
    [{"draft": True}, {"title": "WIP: update"}, {"title": "[wip] update"}],
    ids=["draft-field", "wip-colon", "wip-brackets"],
)
def test_a_draft_pull_request_is_marked_draft(changes):
    [event] = _parse_payload("pull_request", _pull_request(**changes))
    assert event.pull_request.draft


def test_an_event_axon_does_not_handle_parses_to_nothing():
    assert _parse_payload("issues", load_json("webhooks/gitea/pull_request_opened.json")) == []


def test_a_delivery_without_an_event_header_is_a_payload_error():
    with pytest.raises(PayloadError, match="'X-Gitea-Event' missing"):
        GiteaProvider().parse({"Content-Type": "application/json"}, b"{}")


@pytest.mark.parametrize(
    ("name", "event", "dotted"),
    [
        ("push", "push", "after"),
        ("push", "push", "repository.full_name"),
        ("create_branch", "create", "ref_type"),
        ("pull_request_opened", "pull_request", "pull_request.number"),
        ("pull_request_opened", "pull_request", "pull_request.base.ref"),
        ("pull_request_opened", "pull_request", "action"),
    ],
)
def test_a_missing_required_field_is_named_with_its_event(name, event, dotted):
    payload = without(load_json(f"webhooks/gitea/{name}.json"), dotted)
    with pytest.raises(PayloadError, match=f"gitea {event}: field '{dotted}' missing"):
        _parse_payload(event, payload)


class TestGiteaProviderContract(WebhookProviderContract):
    @pytest.fixture
    def provider(self):
        return GiteaProvider()

    @pytest.fixture
    def signed(self):
        return lambda body: {
            "X-Gitea-Signature": hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
        }

    @pytest.fixture
    def sample(self):
        body = fixture_bytes("webhooks/gitea/push.json")
        return gitea_headers("push", body, "topsecret"), body
