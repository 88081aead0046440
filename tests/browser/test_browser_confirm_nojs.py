"""Without JavaScript the server asks once more before a switch that cuts people off."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in, overflow, too_wide


@pytest.mark.parametrize("size,language,answer", [("phone", "fr", "cancel"),
                                                  ("phone", "en", "cancel"),
                                                  ("desktop", "en", "cancel"),
                                                  ("desktop", "fr", "submit")])
def test_a_browser_without_script_gets_a_confirmation_page(browser, server, size, language,
                                                           answer):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE,
                                  java_script_enabled=False)
    page = context.new_page()
    log_in(page, server["url"], "admin")
    page.goto(server["url"] + f"/language/{language}?next=/admin/users")
    page.click("#user-operator form[action$='/deactivate'] button")
    expect(page.locator("#confirm-page")).to_be_visible()
    assert page.locator("#confirm-consequence").inner_text().startswith(
        "Désactiver operator ?" if language == "fr" else "Deactivate operator?")
    assert overflow(page) <= 0, too_wide(page)
    screenshot(page, f"confirm-page-{size}-{language}")
    page.click(f"#confirm-{answer}")
    page.wait_for_url("**/admin/users")
    row = page.locator("#user-operator")
    if answer == "submit":
        expect(row).to_have_class("inactive")
        page.click("#user-operator form[action$='/reactivate'] button")  # no question to undo
    expect(row).not_to_have_class("inactive")
    context.close()
