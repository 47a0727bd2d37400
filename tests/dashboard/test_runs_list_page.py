"""A project's runs page: newest first, filtered with the run query language, sorted by a
header click, fifty to a page, and its statuses following the database while it is open."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ci.store.models import Run
from tests.dashboard import seed, seed_runs
from tests.dashboard.conftest import Browser


def names(browser: Browser) -> list[str]:
    return [cell.text for cell in browser.all("#runs tbody tr[data-run] td:nth-child(2)")]


def test_runs_are_listed_newest_first_with_parent_trigger_and_metrics(browser, site):
    seed.project(site.db, "listing")
    later = seed.START + timedelta(hours=1)
    pipeline = seed.run(site.db, "listing", "pipeline", kind="dag", event={"kind": "manual"})
    with site.db.session() as session:
        parent_id = session.scalar(select(Run.id).where(Run.uuid == pipeline))
    seed.run(
        site.db,
        "listing",
        "train",
        "failed",
        at=later,
        parent_id=parent_id,
        outputs={"loss": 0.25, "accuracy": 0.9, "note": "text is not a metric"},
        event={"kind": "push", "repo": "acme/vision", "branch": "main", "sha": "a1b2c3d4e5f6"},
        started_at=later,
        finished_at=later + timedelta(seconds=95),
    )

    browser.log_in().open("/projects/listing/runs")

    assert names(browser) == ["train", "pipeline"]
    headers = [cell.text for cell in browser.all("#runs thead th")]
    assert headers[0] == "compare"
    assert headers[1:8] == ["name", "status", "kind", "parent", "created ▼", "duration", "trigger"]
    assert headers[8:] == ["accuracy", "loss"]
    child = [cell.text for cell in browser.all("#runs tbody tr:first-child td")][1:]
    assert child == [
        "train",
        "failed",
        "job",
        "pipeline",
        "2026-12-01 10:00",
        "1m 35s",
        "acme/vision@main a1b2c3d",
        "0.9",
        "0.25",
    ]
    parent_link = browser.find("#runs tbody tr:first-child td:nth-child(5) a")
    assert parent_link.get_attribute("href").endswith(f"/runs/{pipeline}")
    assert browser.text("#runs tbody tr:nth-child(2) td:nth-child(8)") == "manual"
    assert browser.text("#count") == "2 runs; showing 1–2"


def test_runs_ticked_in_the_list_open_side_by_side_on_the_compare_page(browser, site):
    first = seed.run(site.db, "ticking", "first", inputs={"lr": 0.1})
    second = seed.run(site.db, "ticking", "second", inputs={"lr": 0.2})
    seed.run(site.db, "ticking", "third")

    browser.log_in().open("/projects/ticking/runs")
    for uuid in (first, second):
        browser.find(f"#runs tr[data-run='{uuid}'] input[type=checkbox]").click()
    browser.find("#compare").click()

    browser.wait(lambda: browser.path.startswith("/compare?"), "the compare page")
    assert f"runs={second}" in browser.path and f"runs={first}" in browser.path
    assert "second" in browser.text("body") and "third" not in browser.text("body")


def test_filtering_by_status_failed_shows_only_the_failed_runs(browser, site):
    seed_runs.many(site.db, "filtering", 10)

    browser.log_in().open("/projects/filtering/runs")
    box = browser.find("#filter input[name=query]")
    box.send_keys("status:failed")
    box.submit()

    browser.wait(lambda: "query=status" in browser.path, "the filtered page")
    badges = [badge.text for badge in browser.all("#runs tbody .badge")]
    assert badges == ["failed", "failed"]
    assert names(browser) == ["run-0006", "run-0001"]
    assert browser.text("#count") == "2 runs match; showing 1–2"
    assert browser.find("#filter input[name=query]").get_attribute("value") == "status:failed"


def test_a_query_that_cannot_be_read_shows_the_parsers_reason_and_answers_400(browser, site):
    seed_runs.many(site.db, "bad-query", 3)

    browser.log_in().open("/projects/bad-query/runs?query=stauts:failed")

    error = browser.text("#query-error")
    assert "query term 'stauts:failed'" in error
    assert "unknown field 'stauts'" in error and "did you mean 'status'" in error
    assert browser.answered() == 400
    assert browser.all("#runs") == []


def test_clicking_the_name_header_sorts_by_name_and_a_second_click_flips_the_order(browser, site):
    for name in ("bravo", "alpha", "charlie"):
        seed.run(site.db, "sorting", name)

    browser.log_in().open("/projects/sorting/runs")
    assert names(browser) == ["charlie", "alpha", "bravo"]

    browser.find("#runs th a[data-sort=name]").click()
    browser.wait(lambda: browser.path.endswith("sort=name"), "the page sorted by name")
    assert names(browser) == ["alpha", "bravo", "charlie"]

    browser.find("#runs th a[data-sort=name]").click()
    browser.wait(lambda: browser.path.endswith("sort=-name"), "the page sorted by name, reversed")
    assert names(browser) == ["charlie", "bravo", "alpha"]


def test_clicking_a_metric_header_sorts_by_that_metric(browser, site):
    for name, loss in (("mid", 0.5), ("low", 0.1), ("high", 0.9)):
        seed.run(site.db, "metric-sorting", name, outputs={"loss": loss})
    seed.run(site.db, "metric-sorting", "no-loss")

    browser.log_in().open("/projects/metric-sorting/runs")
    browser.find("#runs th a[data-sort='metrics.loss']").click()
    browser.wait(lambda: browser.path.endswith("sort=metrics.loss"), "the page sorted by loss")

    assert names(browser) == ["low", "mid", "high", "no-loss"]
    assert browser.text("#runs th:nth-child(9)") == "loss ▲"


def test_120_runs_come_in_pages_of_50_50_and_20_that_keep_the_query_and_sort(browser, site):
    seed_runs.many(site.db, "paging", 120)
    browser.log_in().open("/projects/paging/runs?query=name:run-%25&sort=name")

    first = names(browser)
    assert (len(first), first[0], first[-1]) == (50, "run-0001", "run-0050")
    assert browser.all("#pager a[rel=prev]") == []

    browser.find("#pager a[rel=next]").click()
    browser.wait(lambda: "offset=50" in browser.path, "the second page")
    second = names(browser)
    assert (len(second), second[0], second[-1]) == (50, "run-0051", "run-0100")

    browser.find("#pager a[rel=next]").click()
    browser.wait(lambda: "offset=100" in browser.path, "the third page")
    third = names(browser)
    assert (len(third), third[0], third[-1]) == (20, "run-0101", "run-0120")
    assert browser.all("#pager a[rel=next]") == []
    assert browser.text("#count") == "120 runs match; showing 101–120"

    browser.find("#pager a[rel=prev]").click()
    browser.wait(lambda: "offset=50" in browser.path, "back to the second page")
    assert names(browser) == second
    assert "query=name" in browser.path and "sort=name" in browser.path


def test_a_status_written_to_the_database_shows_on_the_open_page_without_reload(browser, site):
    running = seed.run(site.db, "live", "train", "running")
    seed.run(site.db, "live", "done-already", "succeeded")

    browser.log_in().open("/projects/live/runs")
    badge = f"#runs tr[data-run='{running}'] .badge"
    assert browser.text(badge) == "running"
    browser.script("window.notReloaded = true")

    seed_runs.change_status(site.db, running, "succeeded")

    browser.wait(lambda: browser.text(badge) == "succeeded", "the badge to turn succeeded")
    assert browser.find(badge).get_attribute("class") == "badge succeeded"
    assert browser.script("return window.notReloaded") is True
    assert browser.text(f"#runs tr[data-run='{running}'] .duration") == "42.0 s"


def test_a_project_that_does_not_exist_answers_404_naming_it(browser, site):
    browser.log_in().open("/projects/no-such-project/runs")

    assert "no-such-project" in browser.text("h1")
    assert browser.answered() == 404
