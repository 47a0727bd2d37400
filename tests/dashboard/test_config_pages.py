"""A project's subscriptions (state, triggers, operation, recent decisions) and sources (the
webhook URL to give the sender), where a source's secret never appears."""

from __future__ import annotations

import requests
from sqlalchemy import select

from ci.store.models import Project, Subscription
from tests.dashboard import seed_config
from tests.dashboard.seed_config import DOCS_ONLY, ON_MASTER


def test_the_subscriptions_list_shows_each_with_its_state_and_triggers(browser, site):
    seed_config.project_with_source(site, "listed", source="listed-gh")
    seed_config.subscribe(site, "listed", "train-on-master", ON_MASTER)
    seed_config.subscribe(site, "listed", "docs-only", DOCS_ONLY)
    seed_config.api(site, "POST", "/api/v1/projects/listed/subscriptions/docs-only/pause")

    browser.log_in().open("/projects/listed/subscriptions")

    names = [r.get_attribute("data-subscription") for r in browser.all("tr[data-subscription]")]
    assert names == ["docs-only", "train-on-master"]
    docs = browser.find("tr[data-subscription=docs-only]")
    assert "paused" in docs.text
    assert "push: branches master; paths docs/**" in docs.text
    assert "active" in browser.text("tr[data-subscription=train-on-master]")
    browser.find("tr[data-subscription=docs-only] a").click()
    browser.wait(lambda: browser.path.endswith("/subscriptions/docs-only"), "its page")


def test_a_subscription_page_shows_its_operation_revision_and_recent_decisions(browser, site):
    seed_config.project_with_source(site, "detailed", source="detailed-gh")
    seed_config.subscribe(site, "detailed", "docs-only", DOCS_ONLY)
    seed_config.subscribe(site, "detailed", "train-on-master", ON_MASTER)
    delivery_id = seed_config.processed_push(site, "detailed-gh")
    with site.db.session() as session:
        revision = session.scalar(
            select(Subscription.revision)
            .join(Project)
            .where(Project.name == "detailed", Subscription.name == "docs-only")
        )

    browser.log_in().open("/projects/detailed/subscriptions/docs-only")

    assert browser.text("#state") == "active"
    assert browser.text("#triggers") == "push: branches master; paths docs/**"
    assert browser.text("#revision") == str(revision)
    operation = browser.text("#operation")
    assert "kind: operation" in operation and "image: python:3.11" in operation
    [decision] = browser.all("tr.decision")
    assert decision.get_attribute("data-delivery") == str(delivery_id)
    assert decision.get_attribute("data-matched") == "no"
    assert "paths: none of 1 changed files passes" in decision.text
    decision.find_element("css selector", "a").click()
    browser.wait(lambda: browser.path == f"/deliveries/{delivery_id}", "the delivery's page")


def test_sources_show_the_webhook_url_to_give_the_sender(browser, site):
    seed_config.project_with_source(site, "hooked", source="hooked-gh")

    browser.log_in().open("/projects/hooked/sources")

    row = browser.find("tr[data-source=hooked-gh]")
    assert "github" in row.text
    url = row.find_element("css selector", "input.webhook-url").get_attribute("value")
    assert url == "http://axon.test/webhooks/github/hooked-gh"


def test_a_sources_secret_appears_on_no_page(browser, site):
    secret = "s3cret-ZQX-7f1d-never-shown"
    seed_config.project_with_source(site, "guarded", source="guarded-gh", secret=secret)
    seed_config.subscribe(site, "guarded", "train-on-master", ON_MASTER)
    delivery_id = seed_config.processed_push(site, "guarded-gh", secret=secret)
    _, rejected_id = seed_config.push(site, "guarded-gh", secret="wrong")

    browser.log_in()
    for path in (
        "/projects/guarded/sources",
        "/projects/guarded/subscriptions",
        "/projects/guarded/subscriptions/train-on-master",
        "/deliveries",
        "/deliveries?project=guarded",
        f"/deliveries/{delivery_id}",
        f"/deliveries/{rejected_id}",
    ):
        browser.open(path)
        browser.find("main h1")
        assert secret not in browser.driver.page_source, path
        answer = requests.get(site.url + path, headers=seed_config.AUTH, timeout=10)
        assert answer.status_code == 200 and secret not in answer.text, path


def test_a_thousand_subscriptions_are_paged_a_hundred_at_a_time(browser, site):
    seed_config.many_subscriptions(site, "crowded", 1000)

    browser.log_in().open("/projects/crowded/subscriptions")
    names = [r.get_attribute("data-subscription") for r in browser.all("tr[data-subscription]")]
    assert names == [f"sub-{n:04d}" for n in range(100)]
    assert "page 1 of 10 · 1000 in all" in browser.text("nav.pager")

    browser.open("/projects/crowded/subscriptions?page=10")
    names = [r.get_attribute("data-subscription") for r in browser.all("tr[data-subscription]")]
    assert names == [f"sub-{n:04d}" for n in range(900, 1000)]
    assert browser.all("a[rel=next]") == []
    browser.find("a[rel=prev]").click()
    browser.wait(lambda: browser.path.endswith("page=9"), "the page before")


def test_an_unknown_project_or_subscription_is_refused_with_the_reason(site):
    for path, message in (
        ("/projects/nowhere/subscriptions", "no project named 'nowhere'"),
        ("/projects/nowhere/sources", "no project named 'nowhere'"),
        ("/deliveries/999999", "no delivery 999999"),
        ("/deliveries?before=soon", "before: expected a whole number of at least 0, not 'soon'"),
    ):
        answer = requests.get(site.url + path, headers=seed_config.AUTH, timeout=10)
        assert answer.json()["error"]["message"] == message, path
        assert answer.status_code in (400, 404), path
