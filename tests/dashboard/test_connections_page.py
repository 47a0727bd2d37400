"""A project's connections page: each connection with its kind, when and by whom it was made
and what it mounts; a form adds one and a button deletes one; a secret value typed in the form
never comes back in any page."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.dashboard import seed
from tests.dashboard.seed_config import api
from tests.dashboard.test_login_with_access_token import user_with_token

SECRET_VALUE = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def fill(browser, **fields: str) -> None:
    form = browser.find("#new-connection")
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        if name == "kind":
            Select(element).select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_a_connection_added_in_the_form_is_listed_without_its_secret(browser, site):
    seed.project(site.db, "linked")
    token = user_with_token(site, "ana", "linked", "admin")

    browser.log_in(token).open("/projects/linked/connections")
    assert browser.find("#no-connection")
    fill(
        browser,
        name="training-data",
        kind="s3",
        schema="bucket=s3://training",
        secret=f"AWS_SECRET_ACCESS_KEY={SECRET_VALUE}\nAWS_ACCESS_KEY_ID=AKIAEXAMPLE",
        mount_path="/etc/conn/data",
        env="AWS_SECRET_ACCESS_KEY=AWS_SECRET_ACCESS_KEY",
    )
    row = browser.find("tr[data-connection=training-data]")

    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells[:2] == ["training-data", "s3"]
    assert cells[2].endswith("UTC")
    assert cells[3].startswith("user ana (token ")
    assert row.find_element(By.CSS_SELECTOR, ".mounts").text.split("\n") == [
        "files AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in /etc/conn/data",
        "env AWS_SECRET_ACCESS_KEY from AWS_SECRET_ACCESS_KEY",
    ]
    assert SECRET_VALUE not in browser.driver.page_source
    assert browser.all("#new-connection textarea[name=secret]")[0].get_attribute("value") == ""
    fetched = requests.get(
        site.url + "/projects/linked/connections",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert fetched.status_code == 200
    assert "training-data" in fetched.text and SECRET_VALUE not in fetched.text
    listed = api(site, "GET", "/api/v1/projects/linked/connections").json()
    assert listed[0]["created_by"].startswith("user ana (token ")


def test_a_refused_connection_names_the_field_and_never_shows_the_secret_back(browser, site):
    seed.project(site.db, "refusing")

    browser.log_in().open("/projects/refusing/connections")
    fill(
        browser,
        name="registry",
        kind="registry",
        secret=f"password={SECRET_VALUE}",
    )

    assert browser.text("#form-error") == "schema.url: required for a registry connection"
    assert browser.answered() == 422
    assert SECRET_VALUE not in browser.driver.page_source
    assert browser.find("#new-connection input[name=name]").get_attribute("value") == "registry"
    assert browser.all("tr[data-connection]") == []


def test_a_connection_is_deleted_from_its_row(browser, site):
    seed.project(site.db, "pruned")
    for name in ("keep", "drop"):
        document = {"name": name, "kind": "secret", "secret": {"TOKEN": SECRET_VALUE}}
        api(site, "POST", "/api/v1/projects/pruned/connections", json=document)

    browser.log_in().open("/projects/pruned/runs")
    browser.find("nav.project-nav a[href='/projects/pruned/connections']").click()
    browser.find("tr[data-connection=drop] form.delete button").click()
    browser.wait(lambda: not browser.all("tr[data-connection=drop]"), "the row to go")

    assert [row.get_attribute("data-connection") for row in browser.all("tr[data-connection]")] == [
        "keep"
    ]
    assert browser.text("tr[data-connection=keep] .mounts") == "secret keys TOKEN, not mounted"
    assert browser.text("tr[data-connection=keep] .by") == "the API token"
    names = [c["name"] for c in api(site, "GET", "/api/v1/projects/pruned/connections").json()]
    assert names == ["keep"]
