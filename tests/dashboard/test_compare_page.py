"""The compare page puts runs side by side: a column per run, a row per param and output with
the rows that differ marked, and a chart per metric with each run's series overlaid."""

from __future__ import annotations

import time

from ci.dashboard import compare
from tests.dashboard import seed, seed_analysis


def three_runs(site) -> list[str]:
    uuids = []
    for name, lr, accuracy in (
        ("lr-small", 0.001, 0.91),
        ("lr-mid", 0.01, 0.94),
        ("lr-big", 0.1, 0.7),
    ):
        uuid = seed.run(
            site.db,
            "compare-vision",
            name,
            inputs={"lr": lr, "batch": 64, "optimizer": "adam"},
            outputs={"accuracy": accuracy},
        )
        seed_analysis.series(
            site.db, uuid, "loss", [1.0 / (step * lr * 50 + 1) for step in range(40)]
        )
        uuids.append(uuid)
    return uuids


def test_three_runs_show_their_params_side_by_side_with_the_differences_marked(browser, site):
    uuids = three_runs(site)

    browser.log_in().open("/compare?runs=" + ",".join(uuids))

    columns = browser.all("#compare-table thead th[data-run]")
    assert [column.get_attribute("data-run") for column in columns] == uuids
    assert [column.find_element("css selector", "a").text for column in columns] == [
        "lr-small",
        "lr-mid",
        "lr-big",
    ]
    lr = browser.find("tr[data-row='param.lr']")
    assert "differs" in lr.get_attribute("class").split()
    assert [cell.text for cell in lr.find_elements("css selector", "td")] == [
        "0.001",
        "0.01",
        "0.1",
    ]
    batch = browser.find("tr[data-row='param.batch']")
    assert "same" in batch.get_attribute("class").split()
    assert [cell.text for cell in batch.find_elements("css selector", "td")] == ["64"] * 3
    assert "differs" in browser.find("tr[data-row='output.accuracy']").get_attribute("class")


def test_each_metric_gets_one_chart_with_a_series_per_run_named_by_run(browser, site):
    uuids = three_runs(site)

    browser.log_in().open("/compare?runs=" + ",".join(uuids))

    chart = browser.find("#compare-charts section.metric-chart[data-metric=loss]")
    assert chart.get_attribute("data-series") == "3"
    browser.wait(lambda: chart.find_elements("css selector", "canvas"), "the chart's canvas")
    legend = [row.text for row in chart.find_elements("css selector", ".u-legend .u-series")]
    assert [label.split()[0] for label in legend[1:]] == ["lr-small", "lr-mid", "lr-big"]
    assert browser.find("#compare-charts").get_attribute("data-charts") == "1"


def test_a_run_that_does_not_exist_answers_a_404_page_naming_it(browser, site):
    [known, *_] = three_runs(site)

    browser.log_in().open(f"/compare?runs={known},feedc0ffee")

    assert "no run 'feedc0ffee'" in browser.text("#compare-error")
    assert browser.answered() == 404


def test_a_compare_without_runs_says_which_field_is_missing(browser, site):
    browser.log_in().open("/compare")

    assert browser.text("#compare-error").startswith("runs: give the uuids")
    assert browser.answered() == 400


def test_a_compare_of_the_most_runs_it_takes_draws_every_run(browser, site):
    uuids = [
        seed.run(site.db, "compare-many", f"run-{number}", inputs={"seed": number})
        for number in range(compare.MOST_RUNS)
    ]
    for number, uuid in enumerate(uuids):
        seed_analysis.series(
            site.db, uuid, "loss", [1 / (step + number + 1) for step in range(100)]
        )

    browser.log_in()
    began = time.monotonic()
    browser.open("/compare?runs=" + ",".join(uuids))
    chart = browser.find("#compare-charts section.metric-chart[data-metric=loss]")
    browser.wait(lambda: chart.find_elements("css selector", "canvas"), "the chart's canvas")
    waited = time.monotonic() - began

    assert len(browser.all("#compare-table thead th[data-run]")) == compare.MOST_RUNS
    assert chart.get_attribute("data-series") == str(compare.MOST_RUNS)
    print(f"\n{compare.MOST_RUNS} runs compared: page open to chart drawn {waited:.2f} s")


def test_more_runs_than_a_compare_takes_are_refused_with_the_limit(browser, site):
    too_many = ",".join(f"{number:032x}" for number in range(compare.MOST_RUNS + 1))

    browser.log_in().open("/compare?runs=" + too_many)

    assert browser.text("#compare-error") == (
        f"runs: at most {compare.MOST_RUNS} runs at once, not {compare.MOST_RUNS + 1}"
    )
    assert browser.answered() == 400
