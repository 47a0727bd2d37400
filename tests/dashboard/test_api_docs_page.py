"""The API's docs page lists the operations of the OpenAPI document, behind the login."""

from __future__ import annotations

from typing import Any


def test_a_signed_in_user_sees_every_operation_grouped_with_what_it_answers(browser: Any) -> None:
    browser.log_in().open("/docs/api/")

    rows = browser.all("tr.api-operation")
    listed = {(row.get_attribute("data-method"), row.get_attribute("data-path")) for row in rows}
    assert ("GET", "/api/v1/runs") in listed
    assert ("PUT", "/api/v1/runs/{uuid}/artifacts/{path}") in listed
    runs = browser.find('tr[data-method="GET"][data-path="/api/v1/runs"]')
    assert "limit, offset" in runs.text
    assert "application/problem+json" in runs.text
    assert browser.find("#tag-runs").text == "runs"


def test_the_page_links_the_document_it_is_drawn_from(browser: Any) -> None:
    browser.log_in().open("/docs/api/")

    link = browser.find("#openapi-document").get_attribute("href")
    assert link.endswith("/docs/api/openapi.json")
    version = browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.json()).then(d => done(d.openapi));",
        link,
    )
    assert version == "3.1.0"
