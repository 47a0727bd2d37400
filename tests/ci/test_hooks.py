"""Polyaxon hooks and plugins.notifications: a final status reaches the connections they name,
when their trigger and conditions say so; what they decide is in the notification log."""

from __future__ import annotations

import pytest

from ci.reporting import reports, run_hooks
from ci.reporting.run_hooks import Hook, HookError, Target
from ci.store.models import Run
from notifiers.registry import notifiers
from schemas.status import RunStatus as S
from tests.ci.conftest import OWNER, PUSHED_SHA, REPO, advance, operation

KNOWN = notifiers.names()


def _component(hooks_=None, notifications=None):
    component = {"kind": "component", "run": {"kind": "job"}}
    if hooks_ is not None:
        component["hooks"] = hooks_
    if notifications is not None:
        component["plugins"] = {"notifications": notifications}
    return {"component": component}


# -- reading hooks from the compiled run -----------------------------------------------------


def test_each_hook_and_each_notification_connection_becomes_a_hook_with_its_place():
    compiled = _component(
        [{"hubRef": "slack", "connection": "alerts", "trigger": "failed"}],
        [{"connections": ["email", "webhook"], "trigger": "succeeded"}],
    )
    assert run_hooks.hooks_of(compiled) == [
        Hook("hooks[0]", "alerts", "failed"),
        Hook("plugins.notifications[0]", "email", "succeeded"),
        Hook("plugins.notifications[0]", "webhook", "succeeded"),
    ]


def test_a_hook_without_connection_goes_to_the_notifier_its_hub_ref_names():
    [hook] = run_hooks.hooks_of(_component([{"hubRef": "slack:v1.1"}]))
    assert (hook.connection, hook.trigger) == ("slack", "done")


def test_a_hooks_params_are_plain_values():
    [hook] = run_hooks.hooks_of(
        _component([{"hubRef": "slack", "params": {"channel": {"value": "#alerts"}}}])
    )
    assert hook.params == {"channel": "#alerts"}


def test_a_run_without_compiled_spec_has_no_hooks():
    assert run_hooks.hooks_of(None) == []


@pytest.mark.parametrize(
    ("trigger", "status", "fires"),
    [
        ("succeeded", S.SUCCEEDED, True),
        ("succeeded", S.FAILED, False),
        ("done", S.STOPPED, True),
        ("done", S.UPSTREAM_FAILED, True),
        ("done", S.RUNNING, False),
        ("skipped", S.SKIPPED, True),
        ("upstream_failed", S.UPSTREAM_FAILED, True),
    ],
)
def test_a_trigger_is_a_final_status_or_done_for_any_of_them(trigger, status, fires):
    assert run_hooks.fires(trigger, status) is fires


# -- conditions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ("{{ accuracy < 0.9 }}", True),
        ("{{ outputs.accuracy < 0.9 }}", True),
        ("{{ accuracy >= 0.9 }}", False),
        ("accuracy < 0.9 and status == 'succeeded'", True),
        ("{{ inputs.lr > 0.01 }}", True),
        ("{% if accuracy < 0.5 %}true{% else %}false{% endif %}", False),
    ],
)
def test_a_condition_is_read_over_outputs_inputs_and_status(conditions, expected):
    values = {"accuracy": 0.8, "lr": 0.05}
    context = {**values, "outputs": {"accuracy": 0.8}, "inputs": {"lr": 0.05}}
    assert run_hooks.holds(conditions, {**context, "status": "succeeded"}) is expected


@pytest.mark.parametrize(
    ("conditions", "reason"),
    [
        ("{{ f1 < 0.9 }}", "'f1' is undefined"),
        ("{{ outputs.f1 < 0.9 }}", "has no attribute 'f1'"),
        ("{{ accuracy < }}", "unexpected"),
        ("{{ accuracy.__class__ }}", "unsafe"),
        ("{{ 'ab' * 10000000 }}", "unsafe"),
        ("{{ accuracy }} points", "not true or false"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_says_why(conditions, reason):
    with pytest.raises(HookError, match=reason):
        run_hooks.holds(conditions, {"accuracy": 0.8, "outputs": {"accuracy": 0.8}})


# -- connections -----------------------------------------------------------------------------


def test_a_report_target_that_names_a_connection_is_that_connection_with_the_hooks_params():
    report = {"github": {}, "slack": {"connection": "alerts", "channel": "#ml"}}
    hook = Hook("hooks[0]", "alerts", params={"channel": "#oncall"})
    assert run_hooks.resolve(hook, report, KNOWN) == Target(
        "alerts", "slack", {"channel": "#oncall"}, "hooks[0]"
    )
    assert run_hooks.named_connections(report) == {"slack"}


def test_a_notifiers_name_is_a_connection_with_the_report_targets_settings_if_any():
    hook = Hook("plugins.notifications[0]", "email")
    target = run_hooks.resolve(hook, {"email": {"to": ["ml@example.com"]}}, KNOWN)
    assert target == Target("email", "email", {"to": ["ml@example.com"]}, hook.via)
    assert run_hooks.resolve(hook, {}, KNOWN).config == {}


def test_an_unknown_connection_names_what_is_known():
    hook = Hook("hooks[1]", "team-slack")
    with pytest.raises(HookError) as error:
        run_hooks.resolve(hook, {"slack": {"connection": "alerts"}}, KNOWN)
    assert str(error.value).startswith("hooks[1].connection: no connection 'team-slack'")
    assert "(alerts)" in str(error.value) and "webhook" in str(error.value)


# -- through reporting -----------------------------------------------------------------------


@pytest.fixture
def hooked(rt, db, axon, client, github, slack, start):
    """A run whose operation has `hooks` (and `plugins`), reporting to GitHub; it ends with
    `status` and `outputs`, and its notification log comes back from the API."""
    rt.settings = rt.settings.model_copy(
        update={
            "github_api_url": github.url,
            "slack_webhook_url": slack.webhook_url,
            "notify_timeout_seconds": 5.0,
        }
    )

    def run(hooks_=(), plugins=None, report=None, outputs=None, status=S.SUCCEEDED):
        op = operation()
        op["hooks"] = list(hooks_)
        if plugins:
            op["component"]["plugins"] = plugins
        axon.create_project()
        axon.subscribe(operation=op, report=report or {"github": {"context": "axon/train"}})
        [run_id] = axon.push()
        github.expect_commit_status(OWNER, REPO, PUSHED_SHA, times=None)
        start(run_id)  # compiled, queued, scheduled on the local runner
        advance(db, run_id, S.STARTING, S.RUNNING)
        uuid = axon.run(run_id)["uuid"]
        if outputs:
            logged = client.post(
                f"/api/v1/runs/{uuid}/outputs",
                json={"outputs": outputs},
                headers={"Authorization": f"Bearer {rt.run_token(uuid)}"},
            )
            assert logged.status_code == 200
        advance(db, run_id, status)
        reports.report_run(rt, run_id)
        response = client.get(f"/api/v1/runs/{uuid}/notifications")
        assert response.status_code == 200
        return response.json

    return run


def _log(entries, via):
    return [(e["target"], e["status"], e["state"], e["reason"]) for e in entries if e["via"] == via]


def test_a_hook_whose_condition_holds_sends_the_final_status(hooked, slack):
    slack.expect_message()
    hook = {"hubRef": "slack", "trigger": "succeeded", "conditions": "{{ accuracy < 0.9 }}"}

    log = hooked([hook], outputs={"accuracy": 0.85})

    [message] = slack.messages()
    assert "succeeded" in message["text"]
    assert _log(log, "hooks[0]") == [("slack", "succeeded", "sent", "")]
    slack.assert_no_outstanding()


def test_a_hook_with_a_false_condition_sends_nothing_and_says_so(hooked, github, slack):
    hook = {"hubRef": "slack", "conditions": "{{ outputs.accuracy < 0.9 }}"}

    log = hooked([hook], outputs={"accuracy": 0.95})

    assert slack.requests == []
    reason = "hooks[0].conditions '{{ outputs.accuracy < 0.9 }}' is false"
    assert _log(log, "hooks[0]") == [("slack", "succeeded", "skipped", reason)]
    assert [e["state"] for e in log if e["via"] == "report"] == ["sent", "sent"]


def test_a_condition_over_an_output_the_run_lacks_is_a_failure_in_the_log_not_a_crash(
    hooked, github, slack
):
    log = hooked([{"hubRef": "slack", "conditions": "{{ f1 < 0.9 }}"}], outputs={"loss": 0.2})

    assert slack.requests == []
    [(target, status, state, reason)] = _log(log, "hooks[0]")
    assert (target, status, state) == ("slack", "succeeded", "failed")
    assert reason == "hooks[0].conditions '{{ f1 < 0.9 }}': 'f1' is undefined"
    assert [s["state"] for s in github.statuses()] == ["pending", "success"]


def test_a_hook_waiting_for_failure_stays_quiet_on_success(hooked, slack):
    log = hooked([{"hubRef": "slack", "trigger": "failed"}])

    assert slack.requests == []
    assert _log(log, "hooks[0]") == []


def test_a_named_connection_hears_only_the_notifications_that_name_it(hooked, slack):
    slack.expect_message()
    report = {"github": {"context": "axon/train"}, "slack": {"connection": "alerts"}}
    plugins = {"notifications": [{"connections": ["alerts"], "trigger": "failed"}]}

    log = hooked(plugins=plugins, report=report, status=S.FAILED)

    [message] = slack.messages()
    assert message["text"].startswith(":x:")
    assert _log(log, "plugins.notifications[0]") == [("alerts", "failed", "sent", "")]
    # It is not a report target of its own: on success it would have heard nothing.
    assert {e["target"] for e in log if e["via"] == "report"} == {"github"}


def test_a_connection_that_is_also_a_report_target_hears_each_status_once(hooked, slack):
    slack.expect_message()
    report = {"github": {"context": "axon/train"}, "slack": {}}

    log = hooked([{"hubRef": "slack"}], report=report)

    assert len(slack.messages()) == 1
    assert _log(log, "hooks[0]") == []
    slack.assert_no_outstanding()


def test_an_unknown_connection_is_a_failure_in_the_log(hooked, slack):
    log = hooked([{"hubRef": "slack", "connection": "team-slack"}])

    [(target, _, state, reason)] = _log(log, "hooks[0]")
    assert (target, state) == ("team-slack", "failed")
    assert reason.startswith("hooks[0].connection: no connection 'team-slack'")
    assert slack.requests == []


def test_reporting_again_does_not_log_a_hooks_decision_twice(rt, db, hooked, client):
    log = hooked([{"hubRef": "slack", "conditions": "{{ accuracy < 0.9 }}"}], outputs={"a": 1})
    [shown] = client.get("/api/v1/runs").json
    with db.session() as session:
        run_id = session.query(Run).filter_by(uuid=shown["uuid"]).one().id

    reports.report_run(rt, run_id)

    again = client.get(f"/api/v1/runs/{shown['uuid']}/notifications").json
    assert again == log
