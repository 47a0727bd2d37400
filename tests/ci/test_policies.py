"""Trigger policies against every mix of upstream ends, and how a pipeline ends."""

from __future__ import annotations

import itertools

import pytest

from ci.runs.policies import POLICIES, Decision, judge, judge_event, pipeline_end
from schemas.status import RunStatus

S = RunStatus
ENDS = (S.SUCCEEDED, S.FAILED, S.UPSTREAM_FAILED, S.STOPPED, S.SKIPPED)
LIVE = (S.CREATED, S.RUNNING)
FAILED = {S.FAILED, S.UPSTREAM_FAILED}
WANTED = {"succeeded": {S.SUCCEEDED}, "failed": FAILED, "done": set(ENDS)}


def expected(policy: str, statuses: tuple[RunStatus, ...]) -> Decision:
    """The rule written out plainly: `all_*` needs every upstream to end the wanted way and
    fails at the first that ends otherwise; `one_*` starts at the first that ends the wanted
    way and fails once all ended without one."""
    quantifier, want = policy.split("_")
    wanted = WANTED[want]
    ended = [s for s in statuses if s in ENDS]
    if quantifier == "all":
        if any(s not in wanted for s in ended):
            return Decision.UPSTREAM_FAILED
        return Decision.START if len(ended) == len(statuses) else Decision.WAIT
    if any(s in wanted for s in ended):
        return Decision.START
    return Decision.UPSTREAM_FAILED if len(ended) == len(statuses) else Decision.WAIT


# Every policy against every mix of two and of three upstreams, ended or still live.
MIXES = [
    mix
    for size in (1, 2, 3)
    for mix in itertools.combinations_with_replacement((*ENDS, *LIVE), size)
]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("mix", MIXES, ids=lambda mix: "+".join(mix))
def test_every_policy_against_every_mix_of_upstream_ends(policy, mix):
    upstreams = {f"op{i}": status for i, status in enumerate(mix)}

    verdict = judge(policy, upstreams)

    assert verdict.decision == expected(policy, mix)
    if verdict.decision != Decision.WAIT:
        assert "ops.op" in verdict.reason


def test_the_default_policy_is_all_succeeded():
    assert judge(None, {"a": S.SUCCEEDED, "b": S.RUNNING}).decision == Decision.WAIT
    assert judge(None, {"a": S.SUCCEEDED, "b": S.SUCCEEDED}).decision == Decision.START
    failed = judge(None, {"a": S.FAILED, "b": S.RUNNING})
    assert failed.decision == Decision.UPSTREAM_FAILED
    assert failed.reason == "trigger all_succeeded cannot be met: ops.a (failed)"


def test_one_succeeded_starts_before_the_other_upstreams_end():
    verdict = judge("one_succeeded", {"a": S.RUNNING, "b": S.SUCCEEDED, "c": S.CREATED})
    assert verdict == (
        verdict.__class__(Decision.START, "trigger one_succeeded: ops.b (succeeded)")
    )


def test_an_op_without_upstreams_starts():
    assert judge("all_failed", {}).decision == Decision.START


@pytest.mark.parametrize("policy", POLICIES)
def test_skip_on_upstream_skip_skips_as_soon_as_one_upstream_is_skipped(policy):
    verdict = judge(policy, {"a": S.SKIPPED, "b": S.RUNNING}, skip_on_upstream_skip=True)
    assert verdict.decision == Decision.SKIPPED
    assert verdict.reason == "skipOnUpstreamSkip: ops.a (skipped) skipped"


def test_without_skip_on_upstream_skip_a_skipped_upstream_is_done_but_not_succeeded():
    assert judge("all_succeeded", {"a": S.SKIPPED}).decision == Decision.UPSTREAM_FAILED
    assert judge("all_done", {"a": S.SKIPPED}).decision == Decision.START


def test_an_unknown_policy_is_named():
    with pytest.raises(ValueError, match="unknown trigger policy 'most_succeeded'"):
        judge("most_succeeded", {"a": S.SUCCEEDED})


@pytest.mark.parametrize(
    ("kinds", "reached", "status", "decision"),
    [
        (["run_status_running"], set(), S.SCHEDULED, Decision.WAIT),
        (["run_status_running"], set(), S.RUNNING, Decision.START),
        # It ran and already ended before the engine looked: its history says it was running.
        (["run_status_running"], {S.RUNNING}, S.SUCCEEDED, Decision.START),
        (["run_status_running"], set(), S.FAILED, Decision.UPSTREAM_FAILED),
        (["run_status_done"], set(), S.STOPPED, Decision.START),
        (["run_status_succeeded", "run_status_failed"], set(), S.FAILED, Decision.START),
    ],
)
def test_an_event_starts_an_op_when_its_upstream_enters_the_status(
    kinds, reached, status, decision
):
    assert judge_event("train", kinds, reached, status).decision == decision


def test_an_event_that_can_no_longer_happen_says_why():
    verdict = judge_event("train", ["run_status_running"], set(), S.FAILED)
    assert verdict.reason == "event: ops.train ended failed without run_status_running"


@pytest.mark.parametrize(
    ("stopping", "children", "status"),
    [
        (False, [S.SUCCEEDED, S.SUCCEEDED], S.SUCCEEDED),
        (False, [S.SUCCEEDED, S.FAILED], S.FAILED),
        (False, [S.SUCCEEDED, S.UPSTREAM_FAILED], S.FAILED),
        (False, [S.STOPPED, S.STOPPED], S.STOPPED),
        # Not all stopped: the rule falls through to succeeded.
        (False, [S.STOPPED, S.SUCCEEDED], S.SUCCEEDED),
        (False, [S.SKIPPED, S.SUCCEEDED], S.SUCCEEDED),
        (False, [S.FAILED, S.STOPPED], S.FAILED),
        (True, [S.SUCCEEDED, S.FAILED], S.STOPPED),
        (False, [], S.SUCCEEDED),
    ],
)
def test_a_pipeline_ends_by_polyaxons_rule(stopping, children, status):
    ended = pipeline_end(stopping, children)
    assert ended is not None
    assert ended[0] == status


def test_a_pipeline_with_a_live_child_has_not_ended():
    assert pipeline_end(False, [S.SUCCEEDED, S.RUNNING]) is None


def test_the_end_message_counts_the_children_per_status():
    assert pipeline_end(False, [S.SUCCEEDED, S.FAILED, S.SUCCEEDED]) == (
        S.FAILED,
        "3 op(s): 1 failed, 2 succeeded",
    )
