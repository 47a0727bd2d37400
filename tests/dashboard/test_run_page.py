"""The run page: where a run came from and why, its charts, artifacts, live logs and
notifications, and a stop button, as a user sees them in Chromium."""

from __future__ import annotations

import math

import requests
from sqlalchemy import select

from ci import runtime
from ci.store.models import Run
from runners.kubernetes.logs import ClusterEvent
from runners.local import LocalRunner
from tests.conftest import API_TOKEN
from tests.dashboard import seed, seed_run_page
from tests.dashboard.seed import START

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}
PLOT = ".metric-chart[data-name='{}'] .plot[data-render-ms]"


def drawn(browser, name: str) -> dict:
    """The chart of `name` once drawn: its points, x values' kind, and time to draw."""
    plot = browser.find(PLOT.format(name))
    return browser.script(
        "var u = arguments[0].uplot; return {points: u.data[0].length, lines: u.series.length - 1,"
        " x: u.data[0].slice(0, 3), y: u.data[1].slice(0, 5), time: u.scales.x.time,"
        " ms: parseFloat(arguments[0].dataset.renderMs)};",
        plot,
    )


def test_a_chart_draws_all_10000_points_of_a_metric_and_system_metrics_chart_alike(browser, site):
    uuid = seed.run(site.db, "charts", "train")
    seed_run_page.points(site.db, uuid, "loss", [1 / (1 + i) for i in range(10_000)])
    seed_run_page.points(site.db, uuid, "cpu", [50.0] * 300, kind="system")

    browser.log_in().open(f"/runs/{uuid}")

    loss, cpu = drawn(browser, "loss"), drawn(browser, "cpu")
    assert (loss["points"], loss["lines"]) == (10_000, 1)
    assert loss["y"][:2] == [1.0, 0.5]
    assert cpu["points"] == 300
    print(f"10,000-point chart drawn in {loss['ms']} ms")


def test_a_10_to_the_5_point_series_is_cut_to_10000_points_keeping_its_spike(browser, site):
    values = [(i * 7919 % 1000) / 1000 for i in range(100_000)]
    values[54_321] = 99.0
    uuid = seed.run(site.db, "long-series", "train")
    seed_run_page.points(site.db, uuid, "loss", values)

    browser.log_in().open(f"/runs/{uuid}")

    loss = drawn(browser, "loss")
    assert loss["points"] == 10_000
    plot = browser.find(PLOT.format("loss"))
    assert browser.script("return Math.max.apply(null, arguments[0].uplot.data[1]);", plot) == 99
    assert "10000 of 100000 points" in browser.text(".metric-chart[data-name='loss'] .chart-note")
    print(f"downsampled 10^5-point chart drawn in {loss['ms']} ms")


def test_the_x_axis_switches_between_step_and_time(browser, site):
    uuid = seed.run(site.db, "axes", "train")
    seed_run_page.points(site.db, uuid, "acc", [0.1, 0.2, 0.3, 0.4])
    browser.log_in().open(f"/runs/{uuid}")
    assert drawn(browser, "acc")["x"] == [0, 1, 2]

    browser.find("#chart-x option[value=time]").click()

    browser.wait(lambda: browser.all(".plot[data-x=time][data-render-ms]"), "the time axis")
    by_time = drawn(browser, "acc")
    start = seed_run_page.EPOCH
    assert (by_time["x"], by_time["time"]) == ([start, start + 2, start + 4], True)


def test_smoothing_draws_a_moving_average_beside_the_raw_series(browser, site):
    uuid = seed.run(site.db, "smoothing", "train")
    seed_run_page.points(site.db, uuid, "loss", [0.0, 10.0] * 50)
    browser.log_in().open(f"/runs/{uuid}")
    assert drawn(browser, "loss")["lines"] == 1

    browser.script(
        "var input = document.getElementById('chart-smoothing'); input.value = '0.9';"
        "input.dispatchEvent(new Event('input'));"
    )

    plot = browser.find(PLOT.format("loss"))
    lines = browser.wait(
        lambda: browser.script(
            "var u = arguments[0].uplot; return u.series.length === 3 && u.data;", plot
        ),
        "a smoothed line",
    )
    raw, smoothed = lines[1], lines[2]
    assert raw[:2] == [0, 10]
    assert max(smoothed[50:]) - min(smoothed[50:]) < 3  # the zigzag of 10 is flattened
    assert browser.text("#chart-smoothing-value") == "0.90"


def test_nan_and_infinite_points_are_gaps_and_the_chart_still_draws(browser, site):
    uuid = seed.run(site.db, "nan", "train")
    seed_run_page.points(site.db, uuid, "loss", [0.5, math.nan, 0.3, math.inf, 0.1])

    browser.log_in().open(f"/runs/{uuid}")

    loss = drawn(browser, "loss")
    assert (loss["points"], loss["y"]) == (5, [0.5, None, 0.3, None, 0.1])
    assert "2 NaN or infinite" in browser.text(".metric-chart[data-name='loss'] .chart-note")
    answer = requests.get(
        f"{site.url}/runs/{uuid}/metrics.json?name=loss", headers=BEARER, timeout=10
    )
    assert answer.json()[0]["values"] == [0.5, "NaN", 0.3, "Infinity", 0.1]


def test_a_log_line_written_while_the_page_is_open_arrives_live(browser, site):
    uuid = seed.run(site.db, "live-logs", "train", "running", runner="local", external_id="live-1")
    seed_run_page.runner_logs(site.settings, "live-1", "epoch 1\n")
    browser.log_in().open(f"/runs/{uuid}")
    assert browser.text("#logs") == "epoch 1"

    seed_run_page.runner_logs(site.settings, "live-1", "epoch 2\n")

    browser.wait(lambda: "epoch 2" in browser.text("#logs"), "the new line on the page")
    assert browser.text("#logs") == "epoch 1\nepoch 2"


def test_a_reconnecting_log_stream_resumes_after_its_last_event_id(site):
    uuid = seed.run(site.db, "resume", "train", "succeeded", logs="one\ntwo\nthree\n")

    headers = {**BEARER, "Last-Event-ID": "4"}
    answer = requests.get(f"{site.url}/runs/{uuid}/logs/stream", headers=headers, timeout=10)

    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert 'id: 14\nevent: logs\ndata: {"text": "two\\nthree\\n"}' in answer.text
    assert answer.text.rstrip().endswith('event: done\ndata: {"status": "succeeded"}')


def test_a_bad_log_offset_is_refused_naming_the_field(site):
    uuid = seed.run(site.db, "bad-offset", "train")

    answer = requests.get(
        f"{site.url}/runs/{uuid}/logs/stream?offset=-3", headers=BEARER, timeout=10
    )

    assert answer.status_code == 400
    assert "offset: expected a whole number" in answer.json()["error"]["message"]


def test_artifacts_are_listed_and_one_downloads_with_its_bytes(browser, site):
    uuid = seed.run(site.db, "artifacts", "train")
    seed_run_page.artifact(site.settings, uuid, "model/weights.bin", b"\x00\x01weights")
    seed_run_page.artifact(site.settings, uuid, "report.txt", b"accuracy 0.93\n")

    browser.log_in().open(f"/runs/{uuid}")

    links = browser.all("#artifacts a")
    assert [link.text for link in links] == ["model/weights.bin", "report.txt"]
    href = links[0].get_attribute("href")
    assert href == f"{site.url}/runs/{uuid}/artifacts/model/weights.bin"
    answer = requests.get(href, headers=BEARER, timeout=10)
    assert answer.content == b"\x00\x01weights"
    assert "weights.bin" in answer.headers["Content-Disposition"]


def test_the_header_shows_the_event_its_delivery_and_the_decision_that_started_the_run(
    browser, site
):
    parent = seed.run(site.db, "origin", "sweep", kind="matrix")
    with site.db.session() as session:
        parent_id = session.scalar(select(Run.id).where(Run.uuid == parent))
    uuid = seed.run(site.db, "origin", "trial-1", parent_id=parent_id)
    delivery = seed_run_page.decided_by(
        site.db,
        uuid,
        "train-on-main",
        [("branch", True, "branch 'main' matches ['main']"), ("paths", True, "no path filter")],
    )

    browser.log_in().open(f"/runs/{uuid}")

    assert "push on acme/vision@main 4f2a9c1d0e8b by octocat" in browser.text("#event")
    link = browser.find("#origin a")
    assert link.get_attribute("href").endswith(f"/deliveries/{delivery}")
    decision = browser.find("table.decision[data-subscription=train-on-main]")
    assert "branch 'main' matches ['main']" in decision.text
    assert "matched" in decision.text
    assert "sweep" in browser.text("#family")


def test_params_outputs_and_what_the_job_noted_are_shown(browser, site):
    uuid = seed.run(site.db, "notes", "train", inputs={"lr": 0.01}, outputs={"accuracy": 0.93})
    progress = {"fraction": 0.4, "current": 4, "total": 10, "unit": "epochs"}
    seed_run_page.noted(
        site.db,
        uuid,
        ["baseline", "gpu"],
        "ResNet-50 on the cleaned set",
        progress,
        [("checkpoint", {"path": "ckpt/4.pt"})],
    )

    browser.log_in().open(f"/runs/{uuid}")

    assert browser.text("#params") == "lr 0.01"
    assert browser.text("#outputs") == "accuracy 0.93"
    assert [t.text for t in browser.all("#tags .tag")] == ["baseline", "gpu"]
    assert browser.text("#description") == "ResNet-50 on the cleaned set"
    assert "40% (4 / 10 epochs)" in browser.text("#progress")
    assert "checkpoint" in browser.text("#job-events")
    assert "ckpt/4.pt" in browser.text("#job-events")


def test_the_status_badge_follows_the_run_until_it_ends(browser, site):
    uuid = seed.run(site.db, "badge", "train", "running", runner="local", external_id="badge-1")
    browser.log_in().open(f"/runs/{uuid}")
    assert browser.text("#run-status") == "running"

    with site.db.session() as session:
        session.scalars(select(Run).where(Run.uuid == uuid)).one().status = "succeeded"
        session.commit()

    browser.wait(lambda: browser.text("#run-status") == "succeeded", "the badge to change")
    browser.wait(lambda: browser.text("#logs-live") == "ended", "the stream to end")
    assert not browser.all("#stop")


def test_the_runners_events_about_the_run_are_listed(browser, site, monkeypatch):
    class ClusterRunner(LocalRunner):
        def events(self, external_id: str) -> list[ClusterEvent]:
            said = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
            return [ClusterEvent(START, "Warning", "FailedScheduling", said, "Pod/train-x7k2p")]

    monkeypatch.setattr(runtime.get(), "runner", lambda name: ClusterRunner(site.settings.runs_dir))
    uuid = seed.run(site.db, "cluster", "train", "scheduled", external_id="axon-train-1")

    browser.log_in().open(f"/runs/{uuid}")

    row = browser.find("#runner-events tr.error").text
    assert "FailedScheduling" in row and "Insufficient nvidia.com/gpu" in row
    assert "Pod/train-x7k2p" in row


def test_a_run_that_does_not_exist_answers_a_404_page_naming_it(site):
    missing = "0" * 32

    answer = requests.get(f"{site.url}/runs/{missing}", headers=BEARER, timeout=10)

    assert answer.status_code == 404
    assert f"There is no run <code>{missing}</code>" in answer.text


def test_the_notification_log_hides_the_servers_secrets(browser, site):
    uuid = seed.run(site.db, "told", "train")
    seed_run_page.notified(site.db, uuid, "team-slack", f"401 for token {API_TOKEN}")

    browser.log_in().open(f"/runs/{uuid}")

    row = browser.find("#notifications").text
    assert "team-slack" in row and "401 for token" in row
    assert API_TOKEN not in browser.driver.page_source


def test_the_stop_button_stops_a_running_run(browser, site):
    uuid = seed.run(site.db, "stopping", "train", "running", runner="local", external_id="stop-1")
    browser.log_in().open(f"/runs/{uuid}")

    browser.find("#stop").click()

    # Read in one script: the click reloads the page, and an element found before is stale.
    shown = browser.wait(
        lambda: browser.script(
            "var badge = document.getElementById('run-status');"
            "return !document.getElementById('stop') && badge && badge.textContent;"
        ),
        "the page to show the run stopping",
    )
    assert shown in ("stopping", "stopped")
    with site.db.session() as session:
        run = session.scalars(select(Run).where(Run.uuid == uuid)).one()
        status, run_id = run.status, run.id
    assert status in ("stopping", "stopped")
    assert ("axon.stop_run", (run_id,)) in site.enqueued
