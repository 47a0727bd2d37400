"""A person signs in to the pages through an OpenID Connect provider on another site, in a real
browser: the way back from the provider crosses sites, and the session must still hold."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.ci import oidc_provider


def test_signing_in_with_the_provider_opens_the_pages_and_logging_out_ends_it(browser, site):
    # `localhost` is another site than the app's `127.0.0.1` to the browser.
    with oidc_provider.running(host="localhost") as provider:
        provider.client.redirect_uris = [site.url + "/login/oidc/callback"]
        oidc_provider.configure(site, oidc_issuer=provider.url)
        try:
            person = provider.add("browser-ada", "browser-ada@example.org")

            browser.open("/")
            browser.find("#oidc-login").click()
            browser.wait(
                lambda: browser.driver.current_url.startswith(provider.url + "/authorize"),
                "the provider's login form",
            )
            browser.driver.find_element(By.NAME, "username").send_keys(person.username)
            browser.driver.find_element(By.NAME, "password").send_keys(person.password)
            browser.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            browser.wait(lambda: browser.path == "/", "the projects page after signing in")

            assert browser.find("form.logout button")
            browser.find("form.logout button").click()
            browser.wait(lambda: browser.path.startswith("/login"), "the login page")
            browser.open("/")
            assert browser.path.startswith("/login?next=")
        finally:
            oidc_provider.configure(site)
