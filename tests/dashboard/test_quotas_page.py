"""A project's quotas page: a bar of usage against each limit, the runs waiting, its queues
and presets."""

from __future__ import annotations

from typing import Any

from tests.dashboard import seed
from tests.dashboard.seed_config import api


def holding(cpu: str, memory: str) -> dict[str, Any]:
    """A compiled job asking for `cpu` and `memory`."""
    resources = {"requests": {"cpu": cpu, "memory": memory}}
    return {"component": {"run": {"kind": "job", "container": {"resources": resources}}}}


def test_the_quotas_page_draws_usage_against_each_limit(browser, site):
    seed.project(site.db, "metered")
    for index in range(3):
        seed.run(
            site.db, "metered", f"train-{index}", "running",
            external_id=f"job-{index}", compiled=holding("1", "2Gi"),
        )  # fmt: skip
    seed.run(site.db, "metered", "waiting", "queued", statuses=("created", "queued"))
    api(site, "PUT", "/api/v1/projects/metered/quota", json={"runs": 4, "memory": "8Gi"})

    browser.log_in().open("/projects/metered/quotas")

    section = browser.find("section.quota[data-scope='project:metered']")
    runs = section.find_element("css selector", "[data-limit=runs]")
    memory = section.find_element("css selector", "[data-limit=memory]")
    assert runs.text.split("\n") == ["concurrent runs", "3 of 4"]
    assert memory.text.split("\n") == ["memory", "6Gi of 8Gi"]
    assert runs.find_element("css selector", "[role=meter]").get_attribute("aria-valuenow") == "75"
    fill = browser.script(
        "const bar = arguments[0].querySelector('.quota-bar');"
        "return bar.querySelector('.fill').getBoundingClientRect().width"
        " / bar.getBoundingClientRect().width;",
        runs,
    )
    assert abs(fill - 0.75) < 0.02
    assert section.find_elements("css selector", "[data-limit=cpu]") == []
    assert "1 run waiting" in section.text


def test_a_full_quota_is_drawn_as_full(browser, site):
    seed.project(site.db, "crowded")
    seed.run(
        site.db, "crowded", "only", "running", external_id="job-x", compiled=holding("2", "1Gi")
    )
    api(site, "PUT", "/api/v1/projects/crowded/quota", json={"runs": 1})

    browser.log_in().open("/projects/crowded/quotas")

    bar = browser.find("[data-limit=runs] .quota-bar")
    assert "full" in bar.get_attribute("class").split()
    colour = browser.script(
        "return getComputedStyle(arguments[0]).backgroundColor",
        bar.find_element("css selector", ".fill"),
    )
    assert colour == "rgb(207, 34, 46)"


def test_a_project_without_quota_says_so_and_lists_its_queues_and_presets(browser, site):
    seed.project(site.db, "free")
    api(site, "PUT", "/api/v1/projects/free/queues/urgent", json={"priority": 10})
    api(site, "PUT", "/api/v1/projects/free/queues/batch", json={"priority": -1})
    preset = {"queue": "urgent"}
    api(
        site,
        "POST",
        "/api/v1/projects/free/presets",
        json={"name": "fast", "preset": preset, "default": True},
    )

    browser.log_in().open("/projects/free/runs")
    browser.find("nav.project-nav a[href='/projects/free/quotas']").click()
    browser.wait(lambda: browser.path == "/projects/free/quotas", "the quotas page")

    assert "No quota limits" in browser.text("#no-quota")
    rows = [r.text for r in browser.all("#queues tbody tr")]
    assert rows == ["urgent 10", "batch -1"]
    assert browser.text("#presets tr[data-preset=fast]") == "fast to every run"
