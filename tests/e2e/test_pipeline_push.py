"""A pushed dag, end to end: three ops in order, one skipped by its condition, reported as one
commit status and one pull-request comment with a line per op; and a worker killed while the
pipeline runs, which neither loses nor repeats an op."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from tests.conftest import github_headers, load_json
from tests.e2e.scenario import NAME, OWNER, push_delivery, send
from tests.waiting import wait_for

CONTEXT = "axon/pipeline"
PR_SHA, PR_NUMBER = "e" * 40, 5
DONE = {"succeeded", "failed", "stopped", "skipped", "upstream_failed"}
# Each op notes in the ledger that it ran, sleeps, and train logs the accuracy it is given.
STEP_CODE = """\
import sys, time, axon_tracking
op, sleep, ledger = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with open(ledger, "a") as notes:
    notes.write(op + "\\n")
time.sleep(sleep)
if op == "train":
    axon_tracking.log_outputs(accuracy=0.93, loss=0.2)
"""


def step(name: str, ledger: Path, sleep: float = 0, **fields) -> dict:
    params = {"op": name, "sleep": sleep, "ledger": str(ledger)}
    return {"name": name, "dagRef": "step", "params": params, **fields}


def pipeline(ledger: Path, sleep: float = 0) -> dict:
    """train -> evaluate -> deploy, deploy only when train's accuracy is above 0.95."""
    component = {
        "name": "step",
        # The ops run one component: without this, one op could reuse another's results.
        "cache": {"disable": True},
        "inputs": [
            {"name": "op", "type": "str"},
            {"name": "sleep", "type": "float"},
            {"name": "ledger", "type": "str"},
        ],
        "termination": {"timeout": 60},
        "run": {
            "kind": "job",
            "container": {
                "image": "python:3.11",
                "command": [sys.executable, "-c", STEP_CODE],
                "args": ["{{ op }}", "{{ sleep }}", "{{ ledger }}"],
            },
        },
    }
    return {
        "version": 1.1,
        "kind": "operation",
        "name": "pipeline",
        "component": {
            "version": 1.1,
            "kind": "component",
            "name": "pipeline",
            "run": {
                "kind": "dag",
                "components": [component],
                "operations": [
                    step("train", ledger, sleep),
                    step("evaluate", ledger, dependencies=["train"]),
                    step(
                        "deploy",
                        ledger,
                        dependencies=["train", "evaluate"],
                        conditions="{{ ops.train.outputs.accuracy > 0.95 }}",
                    ),
                ],
            },
        },
    }


def subscribe(axon, ledger: Path, sleep: float = 0) -> tuple[str, str]:
    """A project, a source, and a subscription running the pipeline on pushes to main and pull
    requests into it, reporting a commit status and a pull-request comment."""
    project = f"p{uuid.uuid4().hex[:8]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    source = {"name": f"gh-{project}", "provider": "github", "secret": "It's a Secret"}
    assert axon.api("POST", f"/api/v1/projects/{project}/sources", json=source).status_code == 201
    doc = {
        "name": "pipeline",
        "repo": f"{OWNER}/{NAME}",
        "on": {"push": {"branches": ["main"]}, "pull_request": {"branches": ["main"]}},
        "checkout": False,
        "operation": pipeline(ledger, sleep),
        "report": {"github": {"context": CONTEXT}, "comment": {}},
    }
    response = axon.api("POST", f"/api/v1/projects/{project}/subscriptions", json=doc)
    assert response.status_code == 201, response.text
    return project, source["name"]


def pull_request_delivery() -> tuple[dict, bytes]:
    payload = load_json("webhooks/github/pull_request_opened.json")
    payload["number"] = payload["pull_request"]["number"] = PR_NUMBER
    payload["pull_request"]["base"]["ref"] = "main"
    payload["pull_request"]["head"]["sha"] = PR_SHA
    body = json.dumps(payload).encode()
    return github_headers("pull_request", body, "It's a Secret"), body


def wait_for_pipeline(axon, project: str, timeout: float = 60.0) -> dict:
    """The project's pipeline (its run without a parent), once it has finished."""

    def finished() -> dict | None:
        runs = axon.api("GET", "/api/v1/runs", params={"project": project}).json()
        top = [run for run in runs if run["parent"] is None and run["status"] in DONE]
        return top[0] if top else None

    top = wait_for(finished, timeout, 0.2, lambda: f"the pipeline of {project}\n{axon.logs()}")
    return axon.api("GET", f"/api/v1/runs/{top['uuid']}").json()


def ops(axon, top: dict) -> dict[str, dict]:
    children = axon.api("GET", f"/api/v1/runs/{top['uuid']}/children").json()
    return {child["op_name"]: child for child in children}


def notification_log(axon, run: dict) -> list[tuple[str, str, str]]:
    response = axon.api("GET", f"/api/v1/runs/{run['uuid']}/notifications")
    assert response.status_code == 200, response.text
    return [(e["target"], e["status"], e["state"]) for e in response.json()]


def test_a_pushed_dag_runs_its_ops_and_reports_one_commit_status(axon, github, tmp_path):
    ledger = tmp_path / "ledger"
    project, source = subscribe(axon, ledger)
    repo = {"sha": "a" * 40, "url": "file:///nowhere"}  # nothing is checked out
    github.expect_commit_status(OWNER, NAME, repo["sha"], times=2)

    assert send(axon, source, *push_delivery(repo)).status_code == 202

    top = wait_for_pipeline(axon, project)
    assert (top["kind"], top["status"]) == ("dag", "succeeded"), axon.logs()
    found = ops(axon, top)
    assert {name: op["status"] for name, op in found.items()} == {
        "train": "succeeded",
        "evaluate": "succeeded",
        "deploy": "skipped",
    }
    assert ledger.read_text().split() == ["train", "evaluate"]
    statuses = github.wait_for_statuses(2, timeout=15)
    assert [(s["context"], s["state"]) for s in statuses] == [
        (CONTEXT, "pending"),
        (CONTEXT, "success"),
    ]
    assert statuses[-1]["target_url"] == f"{axon.url}/runs/{top['uuid']}"
    assert all(notification_log(axon, op) == [] for op in found.values())
    github.assert_no_outstanding()


def test_a_pull_requests_dag_has_one_comment_with_a_line_per_op(axon, github, tmp_path):
    project, source = subscribe(axon, tmp_path / "ledger")
    github.expect_commit_status(OWNER, NAME, PR_SHA, times=2)
    github.expect_comment(OWNER, NAME, PR_NUMBER)
    github.expect_comment(OWNER, NAME, edit=True, times=None)

    assert send(axon, source, *pull_request_delivery()).status_code == 202

    top = wait_for_pipeline(axon, project)
    assert top["status"] == "succeeded", axon.logs()

    def final_comment() -> str | None:
        bodies = [body for _, _, body in github.comments()]
        return bodies[-1] if bodies and "succeeded" in bodies[-1].splitlines()[1] else None

    final = wait_for(final_comment, 15, 0.1, lambda: f"the final comment in {github.comments()}")
    [(posted, on_pr, _), *edits] = github.comments()
    assert (posted, on_pr) == ("POST", f"/repos/{OWNER}/{NAME}/issues/{PR_NUMBER}/comments")
    assert edits and {method for method, _, _ in edits} == {"PATCH"}
    rows = {line.split("`")[1]: line for line in final.splitlines() if line.startswith("| [`")}
    assert sorted(rows) == ["deploy", "evaluate", "train"]
    found = ops(axon, top)
    for name, op in found.items():
        assert f"({axon.url}/runs/{op['uuid']})" in rows[name]
    assert "✅ succeeded" in rows["train"] and "`accuracy` 0.93" in rows["train"]
    assert "✅ succeeded" in rows["evaluate"]
    assert "⏭️ skipped" in rows["deploy"] and "accuracy > 0.95" in rows["deploy"]
    assert [s["state"] for s in github.wait_for_statuses(2, timeout=15)] == [
        "pending",
        "success",
    ]
    github.assert_no_outstanding()


def test_a_worker_killed_mid_pipeline_neither_loses_nor_repeats_an_op(
    production_axon, github, tmp_path
):
    github.expect_commit_status(OWNER, NAME, times=None)
    github.expect_comment(OWNER, NAME, times=None)
    axon = production_axon(AXON_SWEEP_AFTER_SECONDS="2").start()
    ledger = tmp_path / "ledger"
    project, source = subscribe(axon, ledger, sleep=3)
    assert send(axon, source, *push_delivery({"sha": "b" * 40, "url": ""})).status_code == 202

    def train_running() -> bool:
        runs = axon.api("GET", "/api/v1/runs", params={"project": project}).json()
        return any(run["op_name"] == "train" and run["status"] == "running" for run in runs)

    wait_for(train_running, 30, 0.1, lambda: f"train running\n{axon.logs()}")
    # Lost at once, as a machine would lose them: the tasks they held go back to the queue.
    axon.kill_process("worker")
    axon.kill_process("agent")
    axon.start_process("worker")
    axon.start_process("agent")

    top = wait_for_pipeline(axon, project, timeout=90)
    assert top["status"] == "succeeded", axon.logs()
    found = ops(axon, top)
    assert {name: op["status"] for name, op in found.items()} == {
        "train": "succeeded",
        "evaluate": "succeeded",
        "deploy": "skipped",
    }
    assert top["children_count"] == 3
    assert ledger.read_text().split() == ["train", "evaluate"]  # each job ran once
    for op in found.values():
        history = [
            c["status"] for c in axon.api("GET", f"/api/v1/runs/{op['uuid']}").json()["conditions"]
        ]
        assert len(history) == len(set(history)), (op["op_name"], history)
