"""Each `on:` key listens to its own events, with the filters GitHub Actions users know."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError, SpecErrors
from schemas.event import Event
from tests.triggers.recorded import github_event, harbor_event
from triggers.subscription import compile_subscription


def decide(event, on, **spec):
    return compile_subscription(9, "s", {"on": on, **spec}).decide(event)


def reasons(decision):
    return {check.name: check.reason for check in decision.checks}


def test_a_published_release_matches_every_type_by_default_as_in_github():
    assert decide(github_event("release_published"), {"release": None}).matched


def test_release_types_and_tags():
    event = github_event("release_published")  # tag 0.0.1
    assert decide(event, {"release": {"types": ["published"], "tags": ["0.*"]}}).matched
    refused = decide(event, {"release": {"types": ["prereleased"], "tags": ["v*"]}})
    assert [c.reason for c in refused.checks if not c.ok] == [
        "release action 'published' is not one of ['prereleased']",
        "tag '0.0.1' matches none of ['v*']",
    ]


def test_registry_images_and_tags_match_by_glob():
    event = harbor_event("harbor_push_artifact_tag_latest")
    on = {"registry": {"images": ["hub.harbor.com/test-webhook/*"], "tags": ["latest"]}}
    decision = decide(event, on)
    assert decision.matched
    assert reasons(decision)["image"] == (
        "image 'hub.harbor.com/test-webhook/debian' matches 'hub.harbor.com/test-webhook/*'"
    )


def test_a_push_by_digest_has_no_tag_for_a_tag_filter():
    event = github_event("registry_package_published_docker")  # ghcr.io/codertocat/hello-world
    decision = decide(event, {"registry": {"images": "ghcr.io/codertocat/*", "tags": ["v*"]}})
    assert decision.reason == "the registry event names no image tag"


def test_registry_tags_ignore():
    event = harbor_event("harbor_push_artifact_tag_latest")
    assert decide(event, {"registry": {"tags-ignore": ["latest"]}}).reason == (
        "image tag 'latest' is ignored by 'latest'"
    )


def test_create_and_delete_filter_branches_and_tags():
    event = github_event("create_tag")  # tag simple-tag
    assert decide(event, {"create": {"tags": ["simple-*"]}}).matched
    assert decide(event, {"create": {"branches": ["main"]}}).reason == (
        "tag 'simple-tag': only branch pushes are listened to"
    )
    assert decide(event, {"delete": None}).reason == "create event is not one of ['delete']"


def test_a_completed_workflow_run_by_name_conclusion_and_branch():
    event = github_event("workflow_run_completed")
    on = {
        "workflow_run": {
            "workflows": ["test"],
            "types": ["completed"],
            "conclusions": ["success"],
            "branches": ["master"],
        }
    }
    decision = decide(event, on)
    assert decision.matched
    refused = decide(event, {"workflow_run": {"workflows": "Deploy", "conclusions": "failure"}})
    assert refused.reason == (
        "workflow 'test' matches none of ['Deploy']; conclusion 'success' is not one of ['failure']"
    )


def test_a_rerequested_check_filters_its_branch():
    event = github_event("check_run_rerequested")  # branch master
    assert decide(event, {"rerequest": {"branches": ["master"]}}).matched
    assert not decide(event, {"rerequest": {"branches-ignore": ["master"]}}).matched


def test_a_schedule_event_matches_its_subscription_whatever_its_repo_filter():
    event = Event(kind="schedule", provider="schedule", scheduled_at="2026-03-02T08:10:00+00:00")
    spec = {"repo": "octo/model", "provider": "github"}
    decision = decide(event, {"schedule": [{"cron": "*/10 * * * *"}], "push": None}, **spec)
    assert decision.matched
    assert reasons(decision) == {"event": "schedule event is listened to"}


def test_a_schedule_event_from_a_generic_hook_is_filtered_like_any_other():
    event = Event(kind="schedule", provider="generic", repo="octo/other")
    decision = decide(event, {"schedule": {"interval": 600}}, repo="octo/model")
    assert decision.reason == "repo 'octo/other' matches none of ['octo/model']"


def test_a_subscription_without_a_schedule_does_not_take_schedule_events():
    event = Event(kind="schedule", provider="schedule")
    assert decide(event, {"push": None}).reason == "schedule event is not one of ['push', 'tag']"


def test_each_key_filters_its_own_events_only():
    on = {"push": {"branches": ["main"]}, "pull_request": {"branches": ["master"]}}
    assert decide(github_event("pull_request_opened"), on).matched
    assert decide(github_event("push_branch_commits"), on).reason == (
        "branch 'master' matches none of ['main']"
    )


@pytest.mark.parametrize(
    ("on", "path", "reason"),
    [
        ({"schedule": [{"cron": "61 * * * *"}]}, "on.schedule[0].cron", "not a valid cron"),
        ({"schedule": []}, "on.schedule", "expected a schedule or a non-empty list"),
        ({"release": {"types": ["shipped"]}}, "on.release.types[0]", "unknown type 'shipped'"),
        ({"registry": {"image": "x"}}, "on.registry.image", "unknown filter; did you mean"),
        ({"registry": {"tags": ["[a-"]}}, "on.registry.tags[0]", "unclosed '['"),
        ({"workflow_run": {"conclusions": ["ok"]}}, "on.workflow_run.conclusions", "unknown"),
        ({"rerequest": {"tags": ["v1"]}}, "on.rerequest.tags", "unknown filter"),
        ({"create": "main"}, "on.create", "expected a mapping of filters"),
    ],
)
def test_a_bad_filter_of_any_key_names_its_place(on, path, reason):
    with pytest.raises(SpecError) as error:
        compile_subscription(1, "s", {"on": on})
    assert error.value.path == path
    assert error.value.reason.startswith(reason)


def test_errors_of_several_keys_are_all_listed():
    on = {"push": {"branches": ["[x"]}, "release": {"tags": []}, "nope": None}
    with pytest.raises(SpecErrors) as error:
        compile_subscription(1, "s", {"on": on, "repo": []})
    assert [e.path for e in error.value.errors] == [
        "repo",
        "on.push.branches[0]",
        "on.release.tags",
        "on.nope",
    ]
