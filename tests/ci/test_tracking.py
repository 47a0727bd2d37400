"""The tracking endpoints beside metrics: inputs, outputs, tags, description, progress, events
and system samples, written with the run's token (or the API token) and read back with the API
token; long series come back cut to what a chart draws; NaN reaches every reader as JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import func, select

from ci.reporting import building
from ci.runs import lifecycle, metrics
from ci.store.models import Condition, MetricChunk, Project, Run
from notifiers import markdown
from schemas.status import RunStatus
from tests.conftest import API_TOKEN

S = RunStatus
RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)


@pytest.fixture
def run(db: Any) -> Run:
    return make_run(db, *RUNNING)


def make_run(db: Any, *path: S) -> Run:
    with db.session() as session:
        project = session.query(Project).filter_by(name="vision").one_or_none()
        row = Run(project=project or Project(name="vision"), name="train", runner="local")
        lifecycle.create(session, row)
        session.flush()
        for status in path:
            if status == S.SCHEDULED:
                row.external_id = f"local-{row.uuid}"
            lifecycle.transition(session, row, status)
        session.flush()
        session.expunge(row)
        return row


def post(client: Any, rt: Any, run: Run, endpoint: str, body: Any, token: str | None = None) -> Any:
    token = rt.run_token(run.uuid) if token is None else token
    return client.post(
        f"/api/v1/runs/{run.uuid}/{endpoint}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


def tracked(client: Any, run: Run) -> dict[str, Any]:
    answer = client.get(f"/api/v1/runs/{run.uuid}/tracking")
    assert answer.status_code == 200, answer.json
    return dict(answer.json)


def test_everything_a_job_reports_is_read_back_in_one_answer(client, rt, run):
    post(client, rt, run, "inputs", {"inputs": {"lr": 0.01}})
    post(client, rt, run, "outputs", {"outputs": {"accuracy": 0.9}})
    post(client, rt, run, "tags", {"tags": ["baseline", "gpu"]})
    post(client, rt, run, "tags", {"tags": ["gpu", "nightly"]})
    post(client, rt, run, "description", {"description": "first try"})
    post(client, rt, run, "progress", {"current": 3, "total": 10, "unit": "epoch"})
    post(client, rt, run, "metrics", [{"metrics": {"loss": 0.5}, "step": s} for s in range(3)])
    post(client, rt, run, "system", {"metrics": {"cpu_percent": 93.5}})
    post(client, rt, run, "system", {"metrics": {"cpu_percent": 40.0}})

    found = tracked(client, run)

    assert found["inputs"] == {"lr": 0.01}
    assert found["outputs"] == {"accuracy": 0.9, "loss": 0.5}
    assert found["tags"] == ["baseline", "gpu", "nightly"]
    assert found["description"] == "first try"
    assert found["progress"]["fraction"] == pytest.approx(0.3)
    assert (found["progress"]["current"], found["progress"]["unit"]) == (3, "epoch")
    assert found["metrics"]["loss"]["count"] == 3 and found["metrics"]["loss"]["step"] == 2
    # System samples need no step: each goes after the one before.
    assert found["system"]["cpu_percent"]["count"] == 2
    assert found["system"]["cpu_percent"]["value"] == 40.0
    assert "cpu_percent" not in found["outputs"]


def test_a_series_of_a_hundred_thousand_points_comes_back_cut_with_its_spikes(client, rt, run):
    values = [1.0] * 100_000
    values[31_337] = 50.0  # a spike a chart must show
    values[77_777] = -50.0
    for start in range(0, 100_000, metrics.MAX_PER_REQUEST):
        body = [
            {"metrics": {"loss": values[s]}, "step": s}
            for s in range(start, start + metrics.MAX_PER_REQUEST)
        ]
        assert post(client, rt, run, "metrics", body).status_code == 200

    answer = client.get(
        f"/api/v1/runs/{run.uuid}/metrics", query_string={"name": "loss", "points": 1000}
    )

    [chart] = answer.json
    assert chart["count"] == 100_000
    assert len(chart["steps"]) <= 1000 and len(chart["values"]) == len(chart["steps"])
    assert chart["steps"][0] == 0 and chart["steps"][-1] == 99_999
    assert chart["steps"] == sorted(chart["steps"])
    assert {31_337, 77_777} <= set(chart["steps"])
    assert max(chart["values"]) == 50.0 and min(chart["values"]) == -50.0
    # Packed: a hundred thousand points are about a hundred rows.
    with rt.db.session() as session:
        rows = session.execute(
            select(func.count(), func.sum(func.length(MetricChunk.points))).where(
                MetricChunk.run_id == run.id
            )
        ).one()
    assert rows[0] <= 100 and rows[1] == 100_000 * 24


def test_a_short_series_comes_back_whole_and_a_bad_points_count_is_refused(client, rt, run):
    post(client, rt, run, "metrics", [{"metrics": {"acc": s / 10}, "step": s} for s in range(5)])

    whole = client.get(f"/api/v1/runs/{run.uuid}/metrics", query_string={"name": "acc"})
    bad = client.get(
        f"/api/v1/runs/{run.uuid}/metrics", query_string={"name": "acc", "points": "1"}
    )
    missing = client.get(f"/api/v1/runs/{run.uuid}/metrics", query_string={"name": "nope"})

    assert whole.json[0]["steps"] == [0, 1, 2, 3, 4]
    assert whole.json[0]["values"] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert (
        bad.status_code == 400 and "points: expected a whole number" in bad.json["error"]["message"]
    )
    assert missing.json == [{"name": "nope", "count": 0, "steps": [], "times": [], "values": []}]


def test_events_are_kept_in_order_of_their_time(client, rt, run):
    post(
        client,
        rt,
        run,
        "job-events",
        {
            "events": [
                {"name": "checkpoint", "data": {"epoch": 2}, "time": 1764900002},
                {"name": "started", "time": 1764900000},
            ]
        },
    )

    answer = client.get(f"/api/v1/runs/{run.uuid}/job-events")

    assert [(e["name"], e["data"]) for e in answer.json] == [
        ("started", {}),
        ("checkpoint", {"epoch": 2}),
    ]
    assert answer.json[0]["time"] == "2025-12-05T02:00:00+00:00"


def test_progress_as_a_fraction_and_its_refusals(client, rt, run):
    ok = post(client, rt, run, "progress", {"value": 0.25, "figures": {"loss": float("nan")}})
    beyond = post(client, rt, run, "progress", {"value": 1.5})
    neither = post(client, rt, run, "progress", {"unit": "epoch"})

    assert ok.status_code == 200
    assert tracked(client, run)["progress"]["figures"] == {"loss": "NaN"}
    assert beyond.status_code == 400 and "fraction from 0 to 1" in beyond.json["error"]["message"]
    assert neither.status_code == 400


def test_nan_in_outputs_and_inputs_is_kept_as_json_and_a_report_renders_it(client, rt, db, run):
    answer = client.post(
        f"/api/v1/runs/{run.uuid}/outputs",
        data='{"outputs": {"loss": NaN, "best": -Infinity, "acc": 0.5}}',
        headers={
            "Authorization": f"Bearer {rt.run_token(run.uuid)}",
            "Content-Type": "application/json",
        },
    )
    post(client, rt, run, "metrics", {"metrics": {"grad": "Infinity"}, "step": 1})

    assert answer.status_code == 200, answer.json
    with db.session() as session:
        row = session.get(Run, run.id)
        lifecycle.transition(session, row, S.SUCCEEDED)
        condition = (
            session.query(Condition).filter_by(run_id=row.id).order_by(Condition.id.desc()).first()
        )
        report = building.report(rt, row, condition, session)
    assert report.outputs == {"loss": "NaN", "best": "-Infinity", "acc": 0.5, "grad": "Infinity"}
    json.dumps(report.outputs, allow_nan=False)  # strict JSON: what every target's API reads
    rendered = markdown.body(report)
    assert "NaN" in rendered and "-Infinity" in rendered


def test_a_user_may_tag_and_describe_a_finished_run_but_not_report_for_it(client, rt, db):
    done = make_run(db, *RUNNING, S.SUCCEEDED)

    tags = post(client, rt, done, "tags", {"tags": ["keep"]}, token=API_TOKEN)
    description = post(client, rt, done, "description", {"description": "best so far"})
    late = [
        post(client, rt, done, endpoint, body)
        for endpoint, body in (
            ("outputs", {"outputs": {"a": 1}}),
            ("inputs", {"inputs": {"a": 1}}),
            ("progress", {"value": 1}),
            ("job-events", {"events": [{"name": "x"}]}),
            ("system", {"metrics": {"cpu_percent": 1}}),
        )
    ]

    assert (tags.status_code, description.status_code) == (200, 200)
    assert [answer.status_code for answer in late] == [409] * 5
    found = tracked(client, done)
    assert (found["tags"], found["description"]) == (["keep"], "best so far")


def test_writes_need_the_runs_token_or_the_api_token_and_reads_the_api_token(
    client, rt, db, run, anonymous_client
):
    other = make_run(db, *RUNNING)
    run_token = {"Authorization": f"Bearer {rt.run_token(run.uuid)}"}

    foreign = post(
        anonymous_client, rt, run, "tags", {"tags": ["x"]}, token=rt.run_token(other.uuid)
    )
    read_with_run_token = anonymous_client.get(
        f"/api/v1/runs/{run.uuid}/tracking", headers=run_token
    )
    series_with_run_token = anonymous_client.get(
        f"/api/v1/runs/{run.uuid}/metrics", headers=run_token
    )

    assert foreign.status_code == 401
    assert read_with_run_token.status_code == 401
    assert series_with_run_token.status_code == 401
    assert tracked(client, run)["tags"] == []


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    [
        ("tags", {"tags": [""]}, "tags: expected a list of tags of 1 to 64 characters"),
        ("tags", {"tags": 3}, "tags: expected a list"),
        ("description", {"description": 3}, "description: expected text"),
        ("inputs", {"inputs": [1]}, "inputs: expected a JSON object"),
        ("job-events", {"events": []}, "events: expected a non-empty list"),
        ("job-events", {"events": [{"name": ""}]}, "events[0].name: expected 1 to 128"),
        ("job-events", {"events": [{"name": "a", "time": "now"}]}, "events[0].time: expected"),
        ("progress", {"value": "much"}, "value: expected a number"),
        ("progress", {"current": 1, "total": 0}, "total: expected a number above 0"),
        ("progress", {"value": 0.5, "eta": 3}, "eta: unknown field"),
        ("system", {"metrics": {"cpu": "busy"}}, "metrics.cpu: expected a number"),
    ],
)
def test_a_bad_note_is_refused_naming_the_field(client, rt, run, endpoint, body, message):
    answer = post(client, rt, run, endpoint, body)

    assert answer.status_code == 400, answer.json
    assert message in answer.json["error"]["message"]


def test_caps_answer_413(client, rt, run, monkeypatch):
    monkeypatch.setattr(metrics, "MAX_REPORTS", 2)
    post(client, rt, run, "system", [{"metrics": {"cpu": 1}}, {"metrics": {"cpu": 2}}])

    beyond = post(client, rt, run, "system", {"metrics": {"cpu": 3}})

    assert beyond.status_code == 413
    assert "a run keeps at most 2 system samples" in beyond.json["error"]["message"]
    assert math.isclose(tracked(client, run)["system"]["cpu"]["value"], 2.0)
