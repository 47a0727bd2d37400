"""Concurrency groups: start, queue or skip a new run, and say which runs it supersedes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.errors import SpecError, SpecErrors
from tests.triggers.recorded import github_event
from triggers.concurrency import Cancellation, Concurrency, GroupRun
from triggers.subscription import compile_subscription

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MAIN = "refs/heads/main"
FEATURE = "refs/heads/feature/x"


def feature_push():
    return github_event("push_branch_commits", ref=FEATURE, branch="feature/x")


def main_push():
    return github_event("push_branch_commits", ref=MAIN, branch="main")


def policy(**spec):
    return Concurrency.from_spec({"group": "ref/{{ event.branch }}", **spec}, "concurrency")


def run(id, status="running", ref=FEATURE, age=300):
    return GroupRun(id, status, NOW - timedelta(seconds=age), ref)


def waiting(id, ref=FEATURE, age=300):
    return run(id, "on_schedule", ref, age)


# The group


def test_the_group_is_rendered_from_the_event():
    assert policy().group(feature_push()) == "ref/feature/x"


def test_a_plain_string_is_the_group_template_as_in_github_actions():
    subscription = compile_subscription(
        1, "train", {"on": "pull_request", "concurrency": "pr-{{ event.pull_request.number }}"}
    )
    assert subscription.concurrency is not None
    assert subscription.concurrency.group(github_event("pull_request_opened")) == "pr-2"


def test_a_group_naming_what_the_event_lacks_says_so_when_rendered():
    concurrency = Concurrency.from_spec("pr-{{ event.pull_request.number }}", "concurrency")
    with pytest.raises(SpecError) as error:
        concurrency.group(feature_push())
    assert str(error.value) == (
        "concurrency.group: cannot render the group: 'None' has no attribute 'number'"
    )


def test_a_default_filter_gives_every_event_a_group():
    template = "{{ event.pull_request.number | default(event.ref) }}"
    assert Concurrency.from_spec(template, "concurrency").group(feature_push()) == FEATURE


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ github.ref }}", "not a usable template: 'github' is undefined"),
        ("{{ event.brnch }}", "not a usable template: 'dict object' has no attribute 'brnch'"),
        ("{{ event.__class__ }}", "not a usable template: "),
        ("{{ event.ref ", "not a usable template: "),
        ("", "required: a template such as 'ref-{{ event.ref }}'"),
    ],
)
def test_a_template_that_cannot_render_is_refused_when_saved(template, reason):
    with pytest.raises(SpecError) as error:
        Concurrency.from_spec({"group": template}, "concurrency")
    assert error.value.path == "concurrency.group"
    assert error.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 'x' * 10 ** 9 }}", "a repeated value of length 1000000000 is too large"),
        ("{{ 2 ** 100000 }}", "exponent 100000 is too large"),
        ("{{ range(10 ** 6) | join }}", "Range too big"),
    ],
)
def test_a_group_too_big_to_render_is_refused_like_a_spec_template(template, reason):
    with pytest.raises(SpecError) as error:
        Concurrency.from_spec(template, "concurrency")
    assert error.value.path == "concurrency.group"
    assert reason in error.value.reason


def test_an_event_cannot_blow_a_group_up_when_rendered():
    concurrency = Concurrency.from_spec("{{ event.branch * 100000 }}", "concurrency")
    with pytest.raises(SpecError) as error:
        concurrency.group(feature_push())
    assert error.value.reason == (
        "cannot render the group: a repeated value of length 900000 is too large"
    )


@pytest.mark.parametrize(
    ("spec", "path", "reason"),
    [
        (
            {"cancel-in-progress": True},
            "concurrency.cancel-in-progress",
            "unknown key; did you mean 'cancelInProgress'?",
        ),
        ({"cancelInProgress": "yes"}, "concurrency.cancelInProgress", "expected true or false"),
        ({"queueLimit": -1}, "concurrency.queueLimit", "expected a non-negative number of runs"),
        ({"queueLimit": 1.5}, "concurrency.queueLimit", "expected a whole number of runs"),
        ({"debounce": "30s"}, "concurrency.debounce", "expected a non-negative number of seconds"),
        ({"debounce": 30, "queueLimit": 0}, "concurrency.debounce", "a debounced run waits"),
        ({"protect": ["[x"]}, "concurrency.protect[0]", "unclosed '['"),
    ],
)
def test_a_bad_concurrency_setting_names_its_place(spec, path, reason):
    with pytest.raises(SpecError) as error:
        policy(**spec)
    assert (error.value.path, error.value.reason[: len(reason)]) == (path, reason)


def test_concurrency_errors_are_listed_with_the_trigger_errors():
    spec = {"on": {"push": {"branches": []}}, "concurrency": {"group": "{{ nope }}"}}
    with pytest.raises(SpecErrors) as error:
        compile_subscription(1, "s", spec)
    assert [e.path for e in error.value.errors] == ["concurrency.group", "on.push.branches"]


# Start, queue, skip


def test_a_run_alone_in_its_group_starts():
    admission = policy().decide(feature_push(), "ref/feature/x", [], NOW)
    assert (admission.action, admission.reason, admission.cancel) == (
        "start",
        "started in group ref/feature/x",
        (),
    )


def test_a_run_waits_behind_the_one_in_progress_by_default():
    admission = policy().decide(feature_push(), "ref/feature/x", [run(40)], NOW)
    assert (admission.action, admission.reason) == (
        "queue",
        "queued in group ref/feature/x behind run 40",
    )


def test_cancel_in_progress_supersedes_the_running_run():
    admission = policy(cancelInProgress=True).decide(feature_push(), "ref-main", [run(41)], NOW)
    assert admission.action == "start"
    assert admission.cancel == (Cancellation(41, "cancelled run 41: superseded in group ref-main"),)
    assert admission.reasons == (
        "started in group ref-main",
        "cancelled run 41: superseded in group ref-main",
    )


def test_a_run_on_a_protected_branch_is_never_cancelled():
    runs = [run(40, ref=MAIN), run(41)]
    admission = policy(cancelInProgress=True).decide(main_push(), "deploy", runs, NOW)
    assert admission.action == "queue"
    assert [c.run_id for c in admission.cancel] == [41]
    assert admission.reason == (
        "queued in group deploy behind run 40; "
        "run 40 is on protected branch 'main', never cancelled"
    )


def test_protected_branches_can_be_configured():
    admission = policy(cancelInProgress=True, protect=[]).decide(
        main_push(), "deploy", [run(40, ref=MAIN)], NOW
    )
    assert (admission.action, [c.run_id for c in admission.cancel]) == ("start", [40])


def test_a_newer_run_replaces_the_waiting_one_as_in_github():
    runs = [run(40), waiting(42)]
    admission = policy().decide(feature_push(), "g", runs, NOW)
    assert admission.action == "queue"
    assert admission.reasons == (
        "queued in group g behind run 40",
        "cancelled run 42: superseded in group g (queueLimit 1)",
    )


def test_a_longer_queue_keeps_the_waiting_runs():
    admission = policy(queueLimit=2).decide(feature_push(), "g", [run(40), waiting(42)], NOW)
    assert (admission.action, admission.cancel) == ("queue", ())
    assert admission.reason == "queued in group g behind runs 40, 42"


def test_a_queue_limit_of_zero_skips_a_run_that_would_wait():
    admission = policy(queueLimit=0).decide(feature_push(), "g", [run(40)], NOW)
    assert (admission.action, admission.reason) == (
        "skip",
        "skipped: run 40 holds group g, and queueLimit is 0",
    )


def test_a_protected_branch_queues_past_the_limit():
    admission = policy(queueLimit=0).decide(main_push(), "g", [run(40)], NOW)
    assert admission.action == "queue"
    assert admission.reason == (
        "queued in group g behind run 40; past queueLimit 0, since branch 'main' is protected"
    )


def test_a_run_is_skipped_when_only_protected_runs_wait_and_it_cancels_nothing():
    runs = [run(40), waiting(42, ref=MAIN)]
    admission = policy(cancelInProgress=True).decide(feature_push(), "g", runs, NOW)
    assert (admission.action, admission.cancel) == ("skip", ())
    assert admission.reason == (
        "skipped: group g already queues 1 run(s) on protected branches, "
        "which are never superseded (queueLimit 1)"
    )


def test_finished_and_stopping_runs_do_not_hold_the_group():
    runs = [run(38, "succeeded"), run(39, "stopping"), run(40, "failed")]
    assert policy().decide(feature_push(), "g", runs, NOW).action == "start"


# Debounce


def test_a_debounced_run_waits_for_newer_events_even_in_an_empty_group():
    admission = policy(debounce=30).decide(feature_push(), "g", [], NOW)
    assert admission.action == "queue"
    assert admission.not_before == NOW + timedelta(seconds=30)
    assert (
        admission.reason
        == "queued in group g; starts after 30 s unless a newer event supersedes it"
    )


def test_a_newer_event_within_the_window_supersedes_the_waiting_run():
    admission = policy(debounce=30).decide(feature_push(), "g", [waiting(42, age=10)], NOW)
    assert admission.action == "queue"
    assert admission.cancel == (
        Cancellation(42, "cancelled run 42: superseded within the 30 s debounce window of group g"),
    )


def test_the_debounce_window_never_supersedes_a_protected_run():
    admission = policy(debounce=30, queueLimit=2).decide(
        main_push(), "g", [waiting(42, ref=MAIN, age=10)], NOW
    )
    assert (admission.action, admission.cancel) == ("queue", ())


# What starts next


def test_the_oldest_waiting_run_starts_when_the_group_is_free():
    turn = policy().next_start("g", [waiting(43, age=5), waiting(42, age=60)], NOW)
    assert (turn.run_id, turn.reason) == (42, "run 42 starts: group g is free")


def test_nothing_starts_while_a_run_holds_the_group():
    turn = policy().next_start("g", [run(40), waiting(42)], NOW)
    assert (turn.run_id, turn.reason) == (None, "run 40 still holds group g")


def test_a_debounced_run_starts_once_its_window_has_passed():
    turn = policy(debounce=30).next_start("g", [waiting(42, age=10)], NOW)
    assert (turn.run_id, turn.at) == (None, NOW + timedelta(seconds=20))
    assert policy(debounce=30).next_start("g", [waiting(42, age=31)], NOW).run_id == 42
