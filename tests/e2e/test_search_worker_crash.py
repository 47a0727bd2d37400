"""A worker killed mid-search (SIGKILL: no clean shutdown) leaves a search that a restarted worker
resumes: every trial index is made exactly once and the search ends with its whole budget.

The kill lands as soon as a trial has ended, when the worker is taking in its result and
creating the next trial, while another trial runs; that one ends while the worker is down, and
only the new worker can act on its result.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from typing import Any

from tests.waiting import wait_for

TRIALS = 6
CONCURRENCY = 2
# A trial takes 0.3 to 0.9 s by its lr: long enough that one is still running when another has
# ended, short enough for a quick test.
TRIAL_SECONDS = 0.6
OBJECTIVE = (
    "import sys, time, axon_tracking; "
    "time.sleep(float(sys.argv[3]) * (0.5 + float(sys.argv[1]))); "
    "axon_tracking.log_outputs(loss=(float(sys.argv[1]) - 0.3) ** 2 + abs(int(sys.argv[2]) - 2))"
)
# Handed to the agent by the worker: such a trial ends without any worker.
STARTED = {"scheduled", "running"}
DONE = {"succeeded", "failed", "stopped", "skipped", "upstream_failed"}


def polyaxonfile() -> str:
    return textwrap.dedent(
        f"""\
        version: 1.1
        kind: operation
        name: tune
        matrix:
          kind: hyperopt
          algorithm: tpe
          numRuns: {TRIALS}
          concurrency: {CONCURRENCY}
          metric: {{name: loss, optimization: minimize}}
          params:
            lr: {{kind: uniform, value: [0.0, 1.0]}}
            depth: {{kind: choice, value: [1, 2, 3]}}
        component:
          version: 1.1
          kind: component
          name: train
          cache: {{disable: true}}
          inputs:
            - {{name: lr, type: float, isOptional: true, value: 0.1}}
            - {{name: depth, type: int, isOptional: true, value: 1}}
          run:
            kind: job
            container:
              image: python:3.11
              command: [{sys.executable}, -c, {OBJECTIVE!r}]
              args: ["{{{{ lr }}}}", "{{{{ depth }}}}", "{TRIAL_SECONDS}"]
        """
    )


def test_a_worker_killed_mid_search_is_resumed_with_no_lost_and_no_duplicate_trial(
    production_axon,
):
    axon = production_axon().start()
    project = f"search{uuid.uuid4().hex[:6]}"
    assert axon.api("POST", "/api/v1/projects", json={"name": project}).status_code == 201
    created = axon.api("POST", f"/api/v1/projects/{project}/runs", json={"content": polyaxonfile()})
    assert created.status_code == 201, created.text
    search = created.json()["uuid"]

    def trials() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = axon.api(
            "GET", "/api/v1/runs", params={"parent": search, "limit": 100}
        ).json()
        return found

    def ended() -> list[dict[str, Any]]:
        return [t for t in trials() if t["status"] in DONE]

    def at_least(count: int) -> list[dict[str, Any]] | None:
        found = ended()
        return found if len(found) >= count else None

    def one_ended_one_running() -> list[dict[str, Any]] | None:
        found = trials()
        done = [t for t in found if t["status"] in DONE]
        return done if done and any(t["status"] in STARTED for t in found) else None

    first = wait_for(
        one_ended_one_running,
        60,
        0.05,
        lambda: f"a trial ended while another runs\n{axon.logs()}",
    )
    axon.kill_process("worker")
    assert axon.api("GET", f"/api/v1/runs/{search}").json()["status"] not in DONE
    # With no worker, trials the agent runs still end; what their results ask for waits.
    wait_for(
        lambda: at_least(len(first) + 1),
        60,
        0.1,
        lambda: f"a trial ending while the worker is down\n{axon.logs()}",
    )
    axon.start_process("worker")

    finished = axon.wait_for_status(search, "succeeded", timeout=90)

    made = trials()
    names = sorted(t["op_name"] for t in made)
    assert names == sorted(f"tune#{i}" for i in range(TRIALS)), names
    assert {t["status"] for t in made} == {"succeeded"}
    points = [(t["params"]["lr"], t["params"]["depth"]) for t in made]
    assert len(set(points)) == TRIALS, points
    assert finished["best"]["uuid"] in {t["uuid"] for t in made}
