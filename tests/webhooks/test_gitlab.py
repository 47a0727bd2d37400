"""GitLab deliveries: the secret token against the published vectors, recorded hooks into Events."""

from __future__ import annotations

import json

import pytest

from schemas.errors import PayloadError, SignatureError
from tests.conftest import FIXTURES, fixture_bytes, load_json
from tests.contracts.webhook import WebhookProviderContract
from tests.webhooks.conftest import (
    GITLAB_HOOKS,
    gitlab_headers,
    signature_vectors,
    vector_body,
    without,
)
from webhooks.gitlab import GitLabProvider

VECTORS = signature_vectors("gitlab")
RECORDED = sorted(path.stem for path in (FIXTURES / "webhooks/gitlab").glob("*.json"))


def _parse_payload(hook: str, payload: dict) -> list:
    return GitLabProvider().parse(gitlab_headers(hook), json.dumps(payload).encode())


def _merge_request(**attributes) -> dict:
    """The recorded opened merge request, with `attributes` set on its object_attributes."""
    payload = load_json("webhooks/gitlab/merge_request_open.json")
    payload["object_attributes"].update(attributes)
    return payload


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_every_gitlab_token_vector_is_judged_as_published(vector):
    headers = {vector["header"]: vector["expected"]}
    if vector["valid"]:
        GitLabProvider().verify(headers, vector_body(vector), vector["secret"])
    else:
        with pytest.raises(SignatureError, match="does not match"):
            GitLabProvider().verify(headers, vector_body(vector), vector["secret"])


def test_there_are_gitlab_vectors_of_both_kinds():
    assert {v["valid"] for v in VECTORS} == {True, False}


def test_a_missing_token_is_refused_by_name(gitlab_delivery):
    headers, body = gitlab_delivery("push", token=None)
    with pytest.raises(SignatureError, match="missing X-Gitlab-Token"):
        GitLabProvider().verify(headers, body, "topsecret")


def test_a_source_without_a_secret_verifies_nothing(gitlab_delivery):
    headers, body = gitlab_delivery("push", token="")
    with pytest.raises(SignatureError, match="no secret"):
        GitLabProvider().verify(headers, body, "")


def test_a_non_ascii_token_is_refused_not_crashed_on(gitlab_delivery):
    headers, body = gitlab_delivery("push", token="t\u00f6psecret")
    with pytest.raises(SignatureError):
        GitLabProvider().verify(headers, body, "topsecret")


def test_the_token_does_not_cover_the_body(gitlab_delivery):
    # GitLab signs nothing: the token proves the sender, and only TLS protects the body.
    headers, body = gitlab_delivery("push")
    GitLabProvider().verify(headers, body + b" ", "topsecret")


def test_the_delivery_id_is_the_idempotency_key_that_survives_resends(gitlab_delivery):
    headers, _ = gitlab_delivery("push")
    assert GitLabProvider().delivery_id(headers) == headers["Idempotency-Key"]


def test_before_gitlab_sent_idempotency_keys_the_event_uuid_names_the_delivery(gitlab_delivery):
    headers, _ = gitlab_delivery("push")
    del headers["Idempotency-Key"]
    assert GitLabProvider().delivery_id(headers) == headers["X-Gitlab-Event-UUID"]


def test_a_delivery_without_either_id_is_deduped_on_its_body():
    assert GitLabProvider().delivery_id({"X-Gitlab-Event": "Push Hook"}) is None


@pytest.mark.parametrize("name", RECORDED)
def test_every_recorded_gitlab_delivery_parses_into_events_of_gitlab(name, gitlab_delivery):
    events = GitLabProvider().parse(*gitlab_delivery(name))
    assert events and all(e.provider == "gitlab" for e in events)


def test_a_branch_push_becomes_a_push_event(gitlab_delivery):
    [event] = GitLabProvider().parse(*gitlab_delivery("push"))
    assert (event.kind, event.repo) == ("push", "mike/diaspora")
    assert (event.branch, event.tag) == ("master", "")
    assert (event.sha, event.before) == (
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "95790bf891e76fee5e1747ab589903a6a1f80f22",
    )
    assert (event.actor, event.created, event.deleted) == ("jsmith", False, False)
    assert event.clone_url == "http://example.com/mike/diaspora.git"
    assert event.message.startswith("fixed readme")


def test_a_push_that_gitlab_shortened_lists_no_changed_files(gitlab_delivery):
    # The recorded push counts 4 commits but lists 2: files of the other 2 are unknown.
    [event] = GitLabProvider().parse(*gitlab_delivery("push"))
    assert event.changed_paths is None


def test_a_push_listing_all_its_commits_names_their_changed_files():
    payload = load_json("webhooks/gitlab/push.json") | {"total_commits_count": 2}
    [event] = _parse_payload("Push Hook", payload)
    assert event.changed_paths == ("CHANGELOG", "app/controller/application.rb")


def test_a_branch_deletion_is_marked_deleted(gitlab_delivery):
    [event] = GitLabProvider().parse(*gitlab_delivery("push_branch_deleted"))
    assert (event.kind, event.branch, event.deleted) == ("push", "feature", True)
    assert event.sha == "0" * 40 and event.changed_paths is None


def test_a_tag_push_becomes_a_created_tag_event(gitlab_delivery):
    [event] = GitLabProvider().parse(*gitlab_delivery("tag_push"))
    assert (event.kind, event.tag, event.branch) == ("tag", "v1.0.0", "")
    assert (event.repo, event.sha) == ("jsmith/example", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7")
    assert event.created and event.changed_paths == ("CHANGELOG", "UPGRADE.md")


def test_a_system_hook_push_parses_like_a_project_push():
    body = fixture_bytes("webhooks/gitlab/push.json")
    [event] = GitLabProvider().parse(gitlab_headers("System Hook"), body)
    assert (event.kind, event.repo) == ("push", "mike/diaspora")


def test_an_opened_merge_request_becomes_an_opened_pull_request(gitlab_delivery):
    [event] = GitLabProvider().parse(*gitlab_delivery("merge_request_open"))
    pr = event.pull_request
    assert (event.kind, event.repo) == ("pull_request", "gitlabhq/gitlab-test")
    assert (pr.number, pr.action, pr.base, pr.head) == (1, "opened", "master", "ms-viewport")
    assert (pr.labels, pr.draft, pr.fork, pr.merged) == (("API",), False, False, False)
    assert event.sha == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert (event.branch, event.ref) == ("master", "refs/merge-requests/1/head")
    assert (event.actor, event.message) == ("user1", "MS-Viewport")
    assert event.clone_url == "http://example.com/gitlabhq/gitlab-test.git"


def test_a_merged_merge_request_is_a_closed_and_merged_pull_request(gitlab_delivery):
    [event] = GitLabProvider().parse(*gitlab_delivery("merge_request_merge"))
    pr = event.pull_request
    assert (pr.action, pr.merged, pr.base, pr.head) == ("closed", True, "master", "feature")
    assert (event.repo, event.actor) == ("gitlab-org/hello-world", "sytses")


@pytest.mark.parametrize(
    ("attributes", "changes", "action"),
    [
        ({"action": "close"}, {}, "closed"),
        ({"action": "reopen"}, {}, "reopened"),
        ({"action": "update", "oldrev": "b6568db1"}, {}, "synchronize"),
        (
            {"action": "update"},
            {"draft": {"previous": False, "current": True}},
            "converted_to_draft",
        ),
        ({"action": "update"}, {"draft": {"previous": True, "current": False}}, "ready_for_review"),
        ({"action": "update"}, None, "labeled"),  # the recorded change: API → Platform
        (
            {"action": "update"},
            {"labels": {"previous": [{"title": "API"}], "current": []}},
            "unlabeled",
        ),
        ({"action": "update"}, {"title": {"previous": "a", "current": "b"}}, "edited"),
        ({"action": "approved"}, {}, "approved"),
    ],
    ids=["close", "reopen", "push", "to-draft", "ready", "label", "unlabel", "edit", "approved"],
)
def test_merge_request_actions_take_githubs_words(attributes, changes, action):
    payload = _merge_request(**attributes)
    if changes is not None:
        payload["changes"] = changes
    [event] = _parse_payload("Merge Request Hook", payload)
    assert event.pull_request.action == action


@pytest.mark.parametrize("flag", ["draft", "work_in_progress"])
def test_a_draft_merge_request_is_marked_draft(flag):
    [event] = _parse_payload("Merge Request Hook", _merge_request(**{flag: True}))
    assert event.pull_request.draft


def test_a_merge_request_from_another_project_is_a_fork():
    [event] = _parse_payload("Merge Request Hook", _merge_request(source_project_id=99))
    assert event.pull_request.fork


def test_a_note_on_a_merge_request_becomes_a_comment_event(gitlab_delivery):
    [event] = GitLabProvider().parse(*gitlab_delivery("note_merge_request"))
    pr = event.pull_request
    assert (event.kind, event.comment, event.actor) == ("comment", "This MR needs work.", "root")
    assert (pr.number, pr.action, pr.base, pr.head) == (1, "comment", "markdown", "master")
    assert pr.labels == ("Afterpod", "Element")
    assert (event.repo, event.sha) == (
        "gitlab-org/gitlab-test",
        "562e173be03b8ff2efb05345d12df18815438a4b",
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {"noteable_type": "Commit"},
        {"noteable_type": "Issue"},
        {"action": "update"},
        {"system": True},
    ],
    ids=["on-commit", "on-issue", "edited", "system-note"],
)
def test_notes_that_are_not_a_new_merge_request_comment_start_nothing(attributes):
    payload = load_json("webhooks/gitlab/note_merge_request.json")
    payload["object_attributes"].update(attributes)
    assert _parse_payload("Note Hook", payload) == []


def test_a_hook_axon_does_not_handle_parses_to_nothing():
    body = fixture_bytes("webhooks/gitlab/push.json")
    assert GitLabProvider().parse(gitlab_headers("Pipeline Hook"), body) == []


def test_a_delivery_without_an_event_header_is_a_payload_error():
    with pytest.raises(PayloadError, match="'X-Gitlab-Event' missing"):
        GitLabProvider().parse({"Content-Type": "application/json"}, b"{}")


@pytest.mark.parametrize(
    ("name", "event", "dotted"),
    [
        ("merge_request_open", "merge_request", "object_attributes.iid"),
        ("merge_request_open", "merge_request", "object_attributes.last_commit.id"),
        ("push", "push", "after"),
        ("push", "push", "project.path_with_namespace"),
        ("tag_push", "tag_push", "ref"),
        ("note_merge_request", "note", "object_attributes.note"),
        ("note_merge_request", "note", "merge_request.iid"),
    ],
)
def test_a_missing_required_field_is_named_with_its_event(name, event, dotted):
    hook = GITLAB_HOOKS[name.split("_")[0]]
    payload = without(load_json(f"webhooks/gitlab/{name}.json"), dotted)
    with pytest.raises(PayloadError, match=f"gitlab {event}: field '{dotted}' missing"):
        _parse_payload(hook, payload)


class TestGitLabProviderContract(WebhookProviderContract):
    # A token is not a digest of the body, so tampering cannot be detected; the test
    # test_the_token_does_not_cover_the_body above states what holds instead.
    test_a_tampered_body_is_refused = None

    @pytest.fixture
    def provider(self):
        return GitLabProvider()

    @pytest.fixture
    def signed(self):
        return lambda body: {"X-Gitlab-Token": "topsecret"}

    @pytest.fixture
    def sample(self):
        return gitlab_headers("Push Hook"), fixture_bytes("webhooks/gitlab/push.json")
