"""The deliveries list and a delivery's page: what came in, each subscription's decision with
the reason of every check, the run it created, and redelivery through the same code as the API."""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from ci.store.models import Delivery, Run
from tests.dashboard import seed_config
from tests.dashboard.seed_config import DOCS_ONLY, ON_MASTER


def test_a_delivery_shows_each_subscriptions_decision_with_its_checks_and_the_run_it_made(
    browser, site
):
    seed_config.project_with_source(site, "decided", source="decided-gh")
    seed_config.subscribe(site, "decided", "train-on-master", ON_MASTER)
    seed_config.subscribe(site, "decided", "docs-only", DOCS_ONLY)
    delivery_id = seed_config.processed_push(site, "decided-gh")

    browser.log_in().open(f"/deliveries/{delivery_id}")

    assert browser.text("#status") == "processed"
    assert "1 event(s), 1 run(s) started" in browser.text("#reason")
    matched = browser.find(".decision[data-subscription=train-on-master]")
    assert matched.get_attribute("data-matched") == "yes"
    assert "ref: branch 'master' matches 'master'" in matched.text
    run_link = matched.find_element("css selector", "a.run").get_attribute("href")
    refused = browser.find(".decision[data-subscription=docs-only]")
    assert refused.get_attribute("data-matched") == "no"
    assert "paths: none of 1 changed files passes" in refused.text
    assert refused.find_elements("css selector", "a.run") == []
    assert "Codertocat/Hello-World" in browser.text("section.event h3")
    assert '"ref": "refs/heads/master"' in browser.text("#body")
    assert "x-github-event" in browser.text("#headers")
    with site.db.session() as session:
        [run] = session.scalars(select(Run).where(Run.delivery_id == delivery_id))
        assert run_link == f"{site.url}/runs/{run.uuid}"


def test_redeliver_makes_a_new_delivery_and_lands_on_its_page(browser, site):
    seed_config.project_with_source(site, "again", source="again-gh")
    seed_config.subscribe(site, "again", "train-on-master", ON_MASTER)
    delivery_id = seed_config.processed_push(site, "again-gh")

    browser.log_in().open(f"/deliveries/{delivery_id}")
    browser.find("#redeliver button[type=submit]").click()

    browser.wait(lambda: browser.path != f"/deliveries/{delivery_id}", "the new delivery's page")
    copy_id = int(browser.path.rsplit("/", 1)[1])
    assert copy_id > delivery_id
    assert browser.text("#status") == "received"
    assert browser.text("#reason") == f"redelivery of delivery {delivery_id}"
    with site.db.session() as session:
        copy = session.get(Delivery, copy_id)
        original = session.get(Delivery, delivery_id)
        assert (copy.status, copy.body, copy.source_id) == (
            "received",
            original.body,
            original.source_id,
        )


def test_a_rejected_delivery_offers_no_redelivery_and_a_forced_one_answers_the_reason(
    browser, site
):
    seed_config.project_with_source(site, "refused", source="refused-gh")
    status, delivery_id = seed_config.push(site, "refused-gh", secret="not-the-secret")
    assert status == 401
    with site.db.session() as session:
        before = session.scalar(select(func.count()).select_from(Delivery))

    browser.log_in().open(f"/deliveries/{delivery_id}")

    assert browser.text("#status") == "rejected"
    assert browser.all("#redeliver") == []
    assert "was rejected" in browser.text("#no-redeliver")
    answer = browser.script(
        """const token = document.querySelector("input[name=csrf_token]").value;
        return fetch(arguments[0], {method: "POST", headers: {"X-CSRF-Token": token}})
          .then(async (r) => [r.status, await r.text()]);""",
        f"/deliveries/{delivery_id}/redeliver",
    )
    assert answer[0] == 409 and "was rejected" in answer[1]
    with site.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == before
    browser.driver.get_log("browser")  # the 409 was asked for: not a page error


def test_filters_narrow_the_list_by_project_provider_and_status(browser, site):
    seed_config.project_with_source(site, "filter-a", source="filter-a-gh")
    seed_config.project_with_source(site, "filter-b", source="filter-b-gl", provider="gitlab")
    kept = seed_config.delivery(site, "filter-a", "filter-a-gh", event_name="push")
    failed = seed_config.delivery(
        site, "filter-a", "filter-a-gh", status="malformed", reason="github push: field missing"
    )
    other = seed_config.delivery(site, "filter-b", "filter-b-gl", event_name="Push Hook")

    browser.log_in().open("/deliveries?project=filter-a")
    shown = {int(r.get_attribute("data-delivery")) for r in browser.all("tr[data-delivery]")}
    assert shown == {kept, failed}

    browser.find("#filters select[name=status] option[value=malformed]").click()
    browser.find("#filters button[type=submit]").click()
    browser.wait(lambda: "status=malformed" in browser.path, "the filtered list")
    rows = browser.all("tr[data-delivery]")
    assert [int(r.get_attribute("data-delivery")) for r in rows] == [failed]
    assert "github push: field missing" in rows[0].text

    browser.open("/deliveries?provider=gitlab")
    shown = {int(r.get_attribute("data-delivery")) for r in browser.all("tr[data-delivery]")}
    assert other in shown and kept not in shown


def test_a_thousand_deliveries_are_paged_fifty_at_a_time_newest_first(browser, site):
    seed_config.project_with_source(site, "busy", source="busy-gh")
    seed_config.many_deliveries(site, "busy", 1000, "busy-gh")

    browser.log_in().open("/deliveries?project=busy")
    events = [
        r.find_elements("css selector", "td")[4].text for r in browser.all("tr[data-delivery]")
    ]
    assert events == [f"push-{n}" for n in range(999, 949, -1)]

    for _ in range(19):
        browser.open(browser.find("a[rel=next]").get_attribute("href").removeprefix(site.url))
    last = [cell.text for cell in browser.all("tr[data-delivery] td:nth-child(5)")]
    assert last == [f"push-{n}" for n in range(49, -1, -1)]
    assert browser.all("a[rel=next]") == []

    browser.find("a[rel=prev]").click()
    browser.wait(lambda: "after=" in browser.path, "the newer page")
    first = browser.all("tr[data-delivery] td:nth-child(5)")[0].text
    assert first == "push-99"


def test_headers_that_could_carry_a_credential_are_never_shown(browser, site):
    seed_config.project_with_source(site, "headers", source="headers-gl", provider="gitlab")
    delivery_id = seed_config.delivery(
        site,
        "headers",
        "headers-gl",
        headers={"x-gitlab-token": "glpat-do-not-show", "x-gitlab-event": "Push Hook"},
    )

    browser.log_in().open(f"/deliveries/{delivery_id}")

    assert "x-gitlab-event" in browser.text("#headers")
    assert "glpat-do-not-show" not in browser.driver.page_source


def test_an_unknown_status_filter_is_refused_naming_the_field(site):
    answer = requests.get(
        f"{site.url}/deliveries", params={"status": "lost"}, headers=seed_config.AUTH, timeout=10
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith("status: unknown 'lost'; known: ")
