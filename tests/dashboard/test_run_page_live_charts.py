"""The run page's charts while the run lives: points written after the page opened are drawn,
a series first reported later gets its chart, and the charts stop following once the run ends."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from ci.runs import metrics
from ci.store.models import Run
from tests.dashboard import seed, seed_run_page

PLOT = ".metric-chart[data-kind='{}'][data-name='{}'] .plot[data-render-ms]"
# The page looks every 3 s; a busy machine may take a few looks' time to answer.
LIVE_TIMEOUT = 30.0


def report(site: Any, uuid: str, kind: str, body: list[dict[str, Any]]) -> None:
    """Points written as the tracking endpoint writes them, committed."""
    with site.db.session() as session:
        run = session.scalars(select(Run).where(Run.uuid == uuid)).one()
        metrics.record(session, run, metrics.parse(body), kind=kind)
        session.commit()


def points(browser: Any, kind: str, name: str) -> int:
    """How many points the chart of `name` holds now (0 while it has none)."""
    found = browser.all(PLOT.format(kind, name))
    if not found:
        return 0
    count: int = browser.script("return arguments[0].uplot.data[0].length;", found[0])
    return count


def test_points_written_while_the_page_is_open_appear_in_its_chart(browser, site):
    uuid = seed.run(site.db, "live-charts", "train", "running")
    seed_run_page.points(site.db, uuid, "loss", [1 / (1 + i) for i in range(10)])
    browser.log_in().open(f"/runs/{uuid}")
    browser.wait(lambda: points(browser, "metric", "loss") == 10, "the chart as loaded")

    report(site, uuid, "metric", [{"metrics": {"loss": 0.05}, "step": 10 + i} for i in range(5)])
    written = time.monotonic()

    browser.wait(
        lambda: points(browser, "metric", "loss") == 15, "the new points", timeout=LIVE_TIMEOUT
    )
    print(f"new points drawn {time.monotonic() - written:.2f} s after they were written")
    plot = browser.find(PLOT.format("metric", "loss"))
    assert browser.script("return arguments[0].uplot.data[1].slice(-1)[0];", plot) == 0.05
    note = browser.text(".metric-chart[data-name='loss'] .chart-note")
    assert note == "15 points"


def test_a_series_first_reported_after_the_page_opened_gets_a_chart_of_its_own(browser, site):
    uuid = seed.run(site.db, "late-series", "train", "running")
    browser.log_in().open(f"/runs/{uuid}")
    assert not browser.all(".metric-chart")
    assert not browser.find("section.charts[data-kind='metric']").is_displayed()

    report(site, uuid, "system", [{"metrics": {"cpu_percent": 40.0 + i}} for i in range(3)])
    report(site, uuid, "metric", [{"metrics": {"accuracy": 0.5, "loss": 0.9}, "step": 0}])

    for kind, name, count in (("system", "cpu_percent", 3), ("metric", "accuracy", 1)):
        browser.wait(
            lambda k=kind, n=name, c=count: points(browser, k, n) == c,
            f"a chart of {name}",
            timeout=LIVE_TIMEOUT,
        )
    names = [c.get_attribute("data-name") for c in browser.all(".metric-chart[data-kind=metric]")]
    assert names == ["accuracy", "loss"]  # in the order the server sorts them
    assert browser.find("section.charts[data-kind='system']").is_displayed()
    assert browser.find("#chart-x").is_displayed()
    assert len(browser.all("#chart-x")) == 1


def test_the_charts_stop_following_once_the_run_has_ended(browser, site):
    uuid = seed.run(site.db, "ending-charts", "train", "running")
    seed_run_page.points(site.db, uuid, "loss", [0.5, 0.4])
    browser.log_in().open(f"/runs/{uuid}")
    assert browser.find("body").get_attribute("data-charts-live") == "following"

    # The run's last points and its end land together: the last look still draws them.
    report(site, uuid, "metric", [{"metrics": {"loss": 0.3}, "step": 2}])
    with site.db.session() as session:
        session.scalars(select(Run).where(Run.uuid == uuid)).one().status = "succeeded"
        session.commit()

    browser.wait(lambda: browser.text("#logs-live") == "ended", "the log stream to end")
    browser.wait(
        lambda: browser.find("body").get_attribute("data-charts-live") == "ended",
        "the charts to stop following",
        timeout=LIVE_TIMEOUT,
    )
    assert points(browser, "metric", "loss") == 3


def test_a_finished_run_s_page_does_not_follow_its_charts(browser, site):
    uuid = seed.run(site.db, "finished-charts", "train", "succeeded")
    seed_run_page.points(site.db, uuid, "loss", [0.5, 0.4])
    browser.log_in().open(f"/runs/{uuid}")
    browser.wait(lambda: points(browser, "metric", "loss") == 2, "the chart")

    assert browser.find("body").get_attribute("data-charts-live") is None
    assert not browser.all("script[src*='run_page_live']")
    assert not browser.all("section.charts[hidden]")
