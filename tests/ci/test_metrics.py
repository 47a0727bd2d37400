"""The metrics tracking endpoint: a job reports metric values with steps under its own run
token (or a user with the API token); each step is kept once, NaN and infinities are kept as
they are, the run keeps a capped number of values, the latest value is mirrored into the
outputs, and the run's parent is woken to judge early stopping."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import select

from ci.runs import lifecycle, metrics, series, tree
from ci.store.models import Project, Run
from schemas.status import RunStatus
from tests.conftest import API_TOKEN

S = RunStatus


class Runs:
    """Runs of project "vision", made as the engine makes them, and their tracking calls."""

    def __init__(self, rt: Any, db: Any, client: Any) -> None:
        self.rt, self.db, self.client = rt, db, client
        with db.session() as session:
            session.add(Project(name="vision"))

    def add(self, name: str, *path: S, parent: int | None = None, kind: str = "job") -> Run:
        with self.db.session() as session:
            project = session.scalar(select(Project).where(Project.name == "vision"))
            run = Run(project=project, name=name, kind=kind, runner="local")
            if parent is not None:
                run.parent_id, run.op_name = parent, name
            lifecycle.create(session, run)
            session.flush()
            for status in path:
                if status == S.SCHEDULED:
                    run.external_id = f"local-{name}"
                lifecycle.transition(session, run, status)
            session.flush()
            session.expunge(run)
            return run

    def report(self, run: Run, body: Any, token: str | None = None) -> Any:
        token = self.rt.run_token(run.uuid) if token is None else token
        return self.client.post(
            f"/api/v1/runs/{run.uuid}/metrics",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )

    def series(self, run: Run, name: str) -> list[tuple[int, float]]:
        with self.db.session() as session:
            return metrics.series(session, [run.id], name).get(run.id, [])

    def rows(self, run: Run) -> int:
        """How many points the run keeps, all metrics together."""
        with self.db.session() as session:
            return series.kept(session, run.id, "metric")

    def outputs(self, run: Run) -> dict[str, Any]:
        with self.db.session() as session:
            return dict(session.get(Run, run.id).outputs or {})


@pytest.fixture
def runs(rt, db, client) -> Runs:
    return Runs(rt, db, client)


RUNNING = (S.COMPILED, S.QUEUED, S.SCHEDULED, S.RUNNING)


def test_a_report_keeps_each_value_at_its_step_and_mirrors_the_latest_into_outputs(runs):
    run = runs.add("train", *RUNNING)

    first = runs.report(run, {"metrics": {"loss": 0.9, "accuracy": 0.5}, "step": 1})
    second = runs.report(run, {"metrics": {"loss": 0.4}, "step": 2})

    assert first.status_code == 200, first.json
    assert second.json == {"recorded": 1, "metrics": {"loss": 0.4}}
    assert runs.series(run, "loss") == [(1, 0.9), (2, 0.4)]
    assert runs.series(run, "accuracy") == [(1, 0.5)]
    assert runs.outputs(run) == {"loss": 0.4, "accuracy": 0.5}


def test_a_re_sent_step_is_kept_once_with_its_last_value(runs):
    run = runs.add("train", *RUNNING)
    body = {"metrics": {"loss": 0.5}, "step": 3}

    answers = [runs.report(run, body).status_code for _ in range(3)]
    corrected = runs.report(run, {"metrics": {"loss": 0.45}, "step": 3})

    assert answers == [200, 200, 200]
    assert corrected.status_code == 200
    assert runs.series(run, "loss") == [(3, 0.45)]
    assert runs.rows(run) == 1


def test_the_series_is_in_step_order_whatever_the_order_of_arrival(runs):
    run = runs.add("train", *RUNNING)
    for step in (10, 0, 5):
        runs.report(run, {"metrics": {"loss": 1.0 / (step + 1)}, "step": step})

    assert [step for step, _ in runs.series(run, "loss")] == [0, 5, 10]
    # The latest is the value at the highest step, not the last to arrive.
    assert runs.outputs(run) == {"loss": 1.0 / 11}


def test_reports_without_a_step_are_each_kept_after_the_stepped_ones(runs):
    run = runs.add("train", *RUNNING)

    runs.report(run, {"metrics": {"loss": 0.8}, "step": 4})
    runs.report(run, {"metrics": {"loss": 0.7}})
    runs.report(run, {"metrics": {"loss": 0.7}})

    runs.report(run, {"metrics": {"loss": 0.6}})

    assert runs.series(run, "loss") == [(4, 0.8), (5, 0.7), (6, 0.7), (7, 0.6)]
    assert runs.rows(run) == 4
    assert runs.outputs(run) == {"loss": 0.6}


def test_a_list_of_reports_is_one_request(runs):
    run = runs.add("train", *RUNNING)
    body = [{"metrics": {"loss": 0.6}, "step": 1}, {"metrics": {"loss": 0.3}, "step": 2}]

    answer = runs.report(run, body)

    assert answer.json == {"recorded": 2, "metrics": {"loss": 0.3}}
    assert runs.series(run, "loss") == [(1, 0.6), (2, 0.3)]


def test_last_values_and_series_cover_many_runs_and_leave_out_the_silent(runs):
    one, two, silent = (runs.add(name, *RUNNING) for name in ("one", "two", "silent"))
    runs.report(one, [{"metrics": {"loss": 0.5}, "step": 1}, {"metrics": {"loss": 0.2}, "step": 2}])
    runs.report(two, {"metrics": {"loss": 0.9, "other": 1}, "step": 1})

    with runs.db.session() as session:
        ids = [one.id, two.id, silent.id]
        assert metrics.last_values(session, ids, "loss") == {one.id: 0.2, two.id: 0.9}
        assert metrics.series(session, ids, "other") == {two.id: [(1, 1.0)]}
        assert metrics.series(session, [], "loss") == {}


def test_a_mirrored_metric_is_found_by_a_run_query(runs, client):
    good, bad = runs.add("good", *RUNNING), runs.add("bad", *RUNNING)
    runs.report(good, {"metrics": {"loss": 0.1}, "step": 1})
    runs.report(bad, {"metrics": {"loss": 0.9}, "step": 1})

    found = client.get("/api/v1/runs", query_string={"query": "metrics.loss:<0.3"})

    assert found.status_code == 200, found.json
    assert [run["uuid"] for run in found.json] == [good.uuid]


def test_a_report_wakes_the_parent_to_judge_early_stopping(runs, enqueued):
    search = runs.add("search", S.COMPILED, S.RUNNING, kind="matrix")
    trial = runs.add("search#0", *RUNNING, parent=search.id)
    alone = runs.add("alone", *RUNNING)
    enqueued.clear()

    runs.report(trial, {"metrics": {"loss": 0.3}, "step": 1})
    runs.report(alone, {"metrics": {"loss": 0.3}, "step": 1})

    assert enqueued == [("axon.advance_pipeline", (search.id,))]


# -- refusals ------------------------------------------------------------------------------------


def test_only_the_runs_own_token_or_the_api_token_may_report(runs, anonymous_client):
    run, other = runs.add("train", *RUNNING), runs.add("other", *RUNNING)
    url = f"/api/v1/runs/{run.uuid}/metrics"

    refused = [
        runs.report(
            run, {"metrics": {"loss": 0.1}, "step": 1}, token=runs.rt.run_token(other.uuid)
        ),
        anonymous_client.post(url, json={"metrics": {"loss": 0.1}, "step": 1}),
    ]
    by_a_user = runs.report(run, {"metrics": {"loss": 0.2}, "step": 2}, token=API_TOKEN)

    assert [answer.status_code for answer in refused] == [401, 401]
    assert "run token" in refused[0].json["error"]["message"]
    assert by_a_user.status_code == 200
    assert runs.series(run, "loss") == [(2, 0.2)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metrics": {"loss": "low"}, "step": 1}, "metrics.loss: expected a number, not 'low'"),
        ({"metrics": {"loss": True}}, "metrics.loss: expected a number, not True"),
        ({"metrics": {"loss": 0.1}, "step": -1}, "step: expected a whole number from 0"),
        ({"metrics": {"loss": 0.1}, "step": "3"}, "step: expected a whole number from 0"),
        ({"metrics": {"loss": 0.1}, "step": 1.5}, "step: expected a whole number from 0"),
        ({"metrics": {}, "step": 1}, "metrics: expected a non-empty object"),
        ({"outputs": {"loss": 0.1}}, "outputs: unknown field"),
        ({"metrics": {"": 0.1}}, "metrics: a name has 1 to 128 characters"),
        ([{"metrics": {"loss": 1}}, {"metrics": {"loss": 1}, "step": -2}], "[1].step: expected"),
        ([], "metrics: expected a report, not an empty list"),
        ("loss", "body: expected an object with 'metrics' and 'step'"),
    ],
)
def test_a_bad_report_is_refused_naming_the_field_and_keeps_nothing(runs, body, message):
    run = runs.add("train", *RUNNING)

    answer = runs.report(run, body)

    assert answer.status_code == 400, answer.json
    assert message in answer.json["error"]["message"]
    assert runs.rows(run) == 0


def test_nan_and_infinities_are_kept_as_they_are_and_answered_as_json_can_spell_them(runs):
    run = runs.add("train", *RUNNING)
    # Python's json writes the bare words; strings are what strict JSON writers send.
    answer = runs.client.post(
        f"/api/v1/runs/{run.uuid}/metrics",
        data='[{"metrics": {"loss": NaN, "grad": Infinity}, "step": 1},'
        ' {"metrics": {"loss": "-Infinity", "grad": "NaN"}, "step": 2}]',
        headers={
            "Authorization": f"Bearer {runs.rt.run_token(run.uuid)}",
            "Content-Type": "application/json",
        },
    )

    assert answer.status_code == 200, answer.json
    assert answer.json["metrics"] == {"grad": "NaN", "loss": "-Infinity"}
    [(one, nan), (two, minus)] = runs.series(run, "loss")
    assert (one, two, math.isnan(nan), minus) == (1, 2, True, -math.inf)
    assert runs.series(run, "grad")[0] == (1, math.inf)
    assert runs.outputs(run) == {"loss": "-Infinity", "grad": "NaN"}
    shown = runs.client.get(f"/api/v1/runs/{run.uuid}/metrics", query_string={"name": "loss"})
    assert json.loads(shown.get_data(as_text=True))[0]["values"] == ["NaN", "-Infinity"]


def test_a_report_may_say_when_its_values_were_taken(runs):
    run = runs.add("train", *RUNNING)

    runs.report(run, {"metrics": {"loss": 0.5}, "step": 0, "time": 1764900000.25})

    shown = runs.client.get(f"/api/v1/runs/{run.uuid}/metrics", query_string={"name": "loss"})
    assert shown.json[0]["times"] == [1764900000.25]


def test_a_run_keeps_a_capped_number_of_values_and_re_sends_still_pass_at_the_cap(
    runs, monkeypatch
):
    monkeypatch.setattr(metrics, "MAX_REPORTS", 3)
    run = runs.add("train", *RUNNING)
    body = [
        {"metrics": {"loss": 0.5, "acc": 0.1}, "step": 1},
        {"metrics": {"loss": 0.4}, "step": 2},
    ]
    assert runs.report(run, body).status_code == 200

    beyond = runs.report(run, {"metrics": {"loss": 0.3}, "step": 3})
    re_sent = runs.report(run, {"metrics": {"loss": 0.4}, "step": 2})

    assert beyond.status_code == 413
    assert "a run keeps at most 3 metric values" in beyond.json["error"]["message"]
    assert "has 3 and this report adds 1" in beyond.json["error"]["message"]
    assert re_sent.status_code == 200
    assert runs.series(run, "loss") == [(1, 0.5), (2, 0.4)]


def test_one_request_carries_a_capped_number_of_values(runs, monkeypatch):
    monkeypatch.setattr(metrics, "MAX_PER_REQUEST", 2)
    run = runs.add("train", *RUNNING)

    answer = runs.report(run, {"metrics": {"a": 1, "b": 2, "c": 3}, "step": 1})

    assert answer.status_code == 413
    assert "at most 2 metric values" in answer.json["error"]["message"]
    assert runs.rows(run) == 0


def test_the_metrics_of_a_finished_run_are_final(runs):
    run = runs.add("train", *RUNNING, S.SUCCEEDED)

    answer = runs.report(run, {"metrics": {"loss": 0.1}, "step": 9})

    assert answer.status_code == 409
    assert f"run {run.uuid} is succeeded; its metrics are final" in answer.json["error"]["message"]
    assert runs.rows(run) == 0


def test_deleting_a_run_deletes_its_metrics(runs):
    run = runs.add("train", *RUNNING)
    runs.report(run, {"metrics": {"loss": 0.1}, "step": 1})
    with runs.db.session() as session:
        row = session.get(Run, run.id)
        lifecycle.transition(session, row, S.SUCCEEDED)
        tree.delete(session, row)

    assert runs.rows(run) == 0
