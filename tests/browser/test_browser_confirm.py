"""Switches that cut people or machines off ask once more, restating the consequence."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in


@pytest.mark.parametrize("size,language,answer", [("phone", "fr", "no"), ("desktop", "en", "no"),
                                                  ("desktop", "fr", "yes")])
def test_deactivating_a_user_is_confirmed_first(browser, server, size, language, answer):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    log_in(page, server["url"], "admin")
    page.goto(server["url"] + f"/language/{language}?next=/admin/users")
    page.click("#user-analyst form[action$='/deactivate'] button")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    text = page.locator("#confirm-text").inner_text()
    assert text.startswith("Désactiver analyst ?" if language == "fr" else "Deactivate analyst?")
    box = page.locator("#confirm-dialog").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    screenshot(page, f"confirm-deactivate-{size}-{language}")
    page.click(f"#confirm-{answer}")
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    page.wait_for_load_state()
    row = page.locator("#user-analyst")
    if answer == "yes":
        expect(row).to_have_class("inactive")
        page.click("#user-analyst form[action$='/reactivate'] button")  # no question to undo
        expect(row).not_to_have_class("inactive")
    else:
        expect(row).not_to_have_class("inactive")
    context.close()
