"""The dashboard as a user meets it: the real app served over loopback from its own PostgreSQL
database, opened in a real headless Chromium (Debian's `chromium` and `chromium-driver`).

Every test that opens a page fails on any JavaScript console error, and leaves a screenshot
in tests/.artifacts/screenshots/ (not committed) to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.conftest import API_TOKEN
from tests.live import Served, serve
from tests.waiting import wait_for

SCREENSHOTS = Path(__file__).resolve().parents[1] / ".artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Long enough for a busy CI machine; a page that is right shows it well within this.
PAGE_TIMEOUT = 20.0


# The app on loopback, its database, settings and what it published (see tests/live.py).
Site = Served


@pytest.fixture(scope="module")
def site(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve("axon_pages", tmp_path_factory.mktemp("site")) as served:
        yield served


@pytest.fixture(scope="session")
def chromium() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--disable-gpu",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    yield driver
    driver.quit()


class Browser:
    """One Chromium tab on the site, with the waits and finds a page test needs."""

    def __init__(self, driver: webdriver.Chrome, site: Site) -> None:
        self.driver = driver
        self.site = site

    def open(self, path: str) -> Browser:
        self.driver.get(self.site.url + path)
        return self

    def log_in(self, token: str = API_TOKEN) -> Browser:
        self.open("/login")
        self.driver.find_element(By.NAME, "token").send_keys(token)
        self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait(lambda: "/login" not in self.driver.current_url, "the login to finish")
        return self

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.site.url)

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = PAGE_TIMEOUT) -> Any:
        return wait_for(condition, timeout=timeout, interval=0.05, message=what)

    def find(self, css: str) -> WebElement:
        return self.wait(lambda: self.driver.find_elements(By.CSS_SELECTOR, css), css)[0]

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def answered(self) -> int:
        """The status the page was answered with. Chromium logs a page answered 4xx as a
        console error; that one entry is taken off the log here, so any other still fails."""
        status: int = self.script(
            "return performance.getEntriesByType('navigation')[0].responseStatus"
        )
        errors = self.console_errors()
        assert all(f"status of {status}" in error for error in errors), errors
        return status

    def console_errors(self) -> list[str]:
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry.get("level") == "SEVERE"
        ]


@pytest.fixture
def browser(
    chromium: webdriver.Chrome, site: Site, request: pytest.FixtureRequest
) -> Iterator[Browser]:
    """A tab on the site, logged out, with an empty console; afterwards a screenshot is kept
    and any console error fails the test."""
    chromium.delete_all_cookies()
    chromium.get("about:blank")
    chromium.get_log("browser")
    tab = Browser(chromium, site)
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    chromium.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    errors = tab.console_errors()
    assert not errors, f"JavaScript console errors: {errors}"
