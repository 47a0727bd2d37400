"""Reports where users look, end to end: a pull request's comment with the base branch's
metrics, retries that honour the target, hooks, and email to a real SMTP server."""

from __future__ import annotations

import json
import re
import sys
import time
import uuid

from tests.conftest import github_headers, load_json
from tests.e2e.scenario import NAME, OWNER, push_delivery, send
from tests.fakes.smtp import SmtpServer
from tests.waiting import wait_for

# The job logs the accuracy it is given: 0.93 on a pull request, 0.90 on a push to main.
LOG_ACCURACY = "import sys, axon_tracking; axon_tracking.log_outputs(accuracy=float(sys.argv[1]))"
ACCURACY = "{{ '0.93' if event.kind == 'pull_request' else '0.90' }}"


def operation(hooks: list | None = None) -> dict:
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "train",
        "params": {"accuracy": {"value": ACCURACY}},
        "hooks": hooks or [],
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "trainer",
            "inputs": [{"name": "accuracy", "type": "str"}],
            "termination": {"timeout": 60},
            "run": {
                "kind": "job",
                "container": {
                    "image": "python:3.11",
                    "command": [sys.executable, "-c", LOG_ACCURACY, "{{ accuracy }}"],
                },
            },
        },
    }


def subscribe(axon, report: dict, hooks: list | None = None, **fields) -> tuple[str, str]:
    """A project, a GitHub source and a subscription to pushes to main and pull requests into
    it, reporting to `report`; created through the REST API."""
    project = f"p{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    doc = {
        "name": "train",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}, "pull_request": {"branches": ["main"]}},
        "checkout": False,
        "operation": operation(hooks),
        "report": report,
        **fields,
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def pull_request_delivery(sha: str, number: int = 2) -> tuple[dict, bytes]:
    """The recorded opened pull request, into main at `sha`, signed as GitHub signs it."""
    payload = load_json("webhooks/github/pull_request_opened.json")
    payload["number"] = payload["pull_request"]["number"] = number
    payload["pull_request"]["base"]["ref"] = "main"
    payload["pull_request"]["head"]["sha"] = sha
    body = json.dumps(payload).encode()
    return github_headers("pull_request", body, "It's a Secret"), body


def wait_for_another_run(axon, project: str, earlier: dict, timeout: float = 30.0) -> dict:
    """The project's newest run, once it is not `earlier` and has finished."""

    def another() -> str | None:
        runs = axon.api("GET", "/api/v1/runs", params={"project": project}).json()
        return runs[0]["uuid"] if runs[0]["uuid"] != earlier["uuid"] else None

    later = wait_for(another, timeout, 0.1, lambda: f"a run after {earlier['uuid']}\n{axon.logs()}")
    return axon.wait_for_status(later, "succeeded", timeout)


def notification_log(axon, run: dict) -> list[dict]:
    response = axon.api("GET", f"/api/v1/runs/{run['uuid']}/notifications")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_log(axon, run: dict, count: int, timeout: float = 15.0) -> list[dict]:
    """The run's notification log once it has `count` entries."""
    last: list[dict] = []

    def logged() -> list[dict] | None:
        nonlocal last
        last = notification_log(axon, run)
        return last if len(last) >= count else None

    return wait_for(logged, timeout, 0.1, lambda: f"{count} entries in {last}\n{axon.logs()}")


# -- in both modes ---------------------------------------------------------------------------


def test_a_pull_request_has_one_comment_edited_from_running_to_succeeded_with_the_base_table(
    axon, repo, github, slack
):
    compare = {"accuracy": {"better": "higher", "tolerance": 0.005}}
    project, source = subscribe(axon, {"comment": {}}, compare=compare)
    assert send(axon, source, *push_delivery(repo)).status_code == 202
    base = axon.wait_for_run(project)
    assert (base["status"], base["outputs"]) == ("succeeded", {"accuracy": 0.90})
    github.expect_comment(OWNER, NAME, 2)
    github.expect_comment(OWNER, NAME, edit=True)

    assert send(axon, source, *pull_request_delivery("f" * 40)).status_code == 202

    run = wait_for_another_run(axon, project, base)
    assert run["status"] == "succeeded", axon.logs()
    github.wait_for(2, timeout=15)
    github.assert_no_outstanding()
    (posted, on_pr, running), (edited, on_comment, final) = github.comments()
    assert (posted, on_pr) == ("POST", f"/repos/{OWNER}/{NAME}/issues/2/comments")
    assert "running" in running.lower()
    assert edited == "PATCH" and on_comment.startswith(f"/repos/{OWNER}/{NAME}/issues/comments/")
    assert "succeeded" in final.lower()
    assert "| `accuracy` | 0.93 | 0.9 | +0.03 |" in final and "better" in final
    assert "main" in final and base["uuid"] in final  # the base branch's run, linked
    log = wait_for_log(axon, run, 2)
    assert [(e["target"], e["status"], e["state"]) for e in log] == [
        ("comment", "running", "sent"),
        ("comment", "succeeded", "sent"),
    ]
    assert log[0]["receipt_id"] == log[1]["receipt_id"] != ""


def test_a_hook_with_a_false_condition_sends_nothing_and_a_true_one_sends(
    axon, repo, github, slack
):
    hooks = [
        {"hubRef": "slack", "connection": "alerts", "conditions": "{{ accuracy < 0.85 }}"},
        {"hubRef": "slack", "connection": "wins", "conditions": "{{ outputs.accuracy > 0.85 }}"},
    ]
    report = {"slack": {"connection": "wins"}, "webhook": {"connection": "alerts"}}
    project, source = subscribe(axon, report, hooks)
    slack.expect_message()

    assert send(axon, source, *push_delivery(repo)).status_code == 202

    run = axon.wait_for_run(project)
    [message] = slack.wait_for_messages(1, timeout=15)
    assert "succeeded" in message["text"]
    log = wait_for_log(axon, run, 2)
    assert sorted((e["via"], e["target"], e["state"], e["reason"]) for e in log) == [
        ("hooks[0]", "alerts", "skipped", "hooks[0].conditions '{{ accuracy < 0.85 }}' is false"),
        ("hooks[1]", "wins", "sent", ""),
    ]
    assert github.requests == []  # neither `report:` target is one of its own
    slack.assert_no_outstanding()


# -- production: Celery retries --------------------------------------------------------------


def test_a_rate_limited_403_is_retried_after_the_reset_and_a_500_with_backoff(
    production_axon, repo, github, slack
):
    axon = production_axon().start()
    project, source = subscribe(axon, {"github": {"context": "axon/train"}})
    reset = int(time.time()) + 4
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    github.expect_commit_status(OWNER, NAME, repo["sha"], status=403, headers=limited)
    github.expect_commit_status(OWNER, NAME, repo["sha"], status=500, times=2)
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)

    assert send(axon, source, *push_delivery(repo)).status_code == 202

    run = axon.wait_for_run(project)
    requests = github.wait_for(5, timeout=40)
    github.assert_no_outstanding()
    assert [r.status for r in requests] == [403, 500, 500, 201, 201]
    assert [r.json["state"] for r in requests if r.status == 201] == ["pending", "success"]
    limited_at, first_500, second_500, landed = (r.at for r in requests[:4])
    assert first_500 >= reset - 0.5  # not before GitHub's reset
    # The backoff: AXON_NOTIFY_RETRY_SECONDS (5s), then twice that.
    assert second_500 - first_500 >= 4.5 and landed - second_500 >= 9.5
    log = wait_for_log(axon, run, 5)
    assert [(e["state"], e["http_status"]) for e in log] == [
        ("retrying", 403),
        ("retrying", 500),
        ("retrying", 500),
        ("sent", 201),
        ("sent", 201),
    ]
    assert re.search(r"; retry after [0-4]s$", log[0]["reason"])


def test_statuses_reported_out_of_order_still_end_at_the_final_one(
    production_axon, repo, github, slack
):
    # `pending` is still on its way to GitHub when the run succeeds: the report of success
    # must wait for it, and never be overtaken by it.
    axon = production_axon().start()
    project, source = subscribe(axon, {"github": {"context": "axon/train"}})
    github.expect_commit_status(OWNER, NAME, repo["sha"], delay=3)
    github.expect_commit_status(OWNER, NAME, repo["sha"])

    assert send(axon, source, *push_delivery(repo)).status_code == 202

    run = axon.wait_for_run(project)
    assert run["status"] == "succeeded"
    statuses = github.wait_for_statuses(2, timeout=20)
    assert [s["state"] for s in statuses] == ["pending", "success"]
    github.assert_no_outstanding()
    log = wait_for_log(axon, run, 2)
    assert [(e["status"], e["state"]) for e in log] == [("running", "sent"), ("succeeded", "sent")]


def test_an_email_reaches_a_real_smtp_server_as_text_and_html(production_axon, repo, github, slack):
    with SmtpServer() as smtp:
        smtp.expect(1)
        axon = production_axon(
            AXON_SMTP_HOST=smtp.host,
            AXON_SMTP_PORT=str(smtp.port),
            AXON_SMTP_SECURITY="none",
            AXON_SMTP_SENDER="Axon <axon@ci.example.com>",
        ).start()
        project, source = subscribe(axon, {"email": {"to": ["ml-team@example.com"]}})

        assert send(axon, source, *push_delivery(repo)).status_code == 202

        run = axon.wait_for_run(project)
        [received] = smtp.wait_for(1, timeout=20)
        smtp.assert_no_outstanding()
    message = received.message
    assert received.rcpt_tos == ["ml-team@example.com"]
    assert message["Subject"].startswith(f"[Axon] {project}/train succeeded")
    assert message["X-Axon-Run"] == run["uuid"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body("plain").get_content()
    html = message.get_body("html").get_content()
    assert "accuracy" in text and "0.9" in text
    assert "<table" in html and "accuracy" in html and run["uuid"] in html
    [entry] = wait_for_log(axon, run, 1)
    assert (entry["target"], entry["state"], entry["http_status"]) == ("email", "sent", None)
    assert entry["receipt_id"] == message["Message-ID"]
