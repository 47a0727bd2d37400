"""The landing page lists every project with its runs counted by status, behind the login."""

from __future__ import annotations

from tests.dashboard import seed


def test_a_visitor_is_sent_to_log_in_first_and_comes_back_to_the_page(browser):
    browser.open("/")

    assert browser.path.startswith("/login")
    browser.log_in()
    assert browser.path == "/"


def test_each_project_shows_its_runs_by_status_and_links_to_its_runs(browser, site):
    seed.project(site.db, "vision", "image models")
    seed.run(site.db, "vision", "train-a", "succeeded")
    seed.run(site.db, "vision", "train-b", "failed")
    seed.run(site.db, "vision", "train-c", "failed")

    browser.log_in().open("/")

    row = browser.find("tr[data-project=vision]")
    assert "image models" in row.text
    badges = [badge.text for badge in row.find_elements("css selector", ".badge")]
    assert badges == ["failed 2", "succeeded 1"]
    link = row.find_element("css selector", "a").get_attribute("href")
    assert link.endswith("/projects/vision/runs")
