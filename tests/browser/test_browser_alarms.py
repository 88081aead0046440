"""Alarms as an operator's tool in a real browser: badge in the menu, taking an alarm in hand."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in
from tests.services.test_alarms import write_alarm


@pytest.fixture(scope="module")
def alarms(server):
    write_alarm(server["LOG_DIR"], "s1:1:42", "pump-1", "2026-11-28T00:08:04.196Z",
                closed_at="2026-11-28T00:20:04.196Z")
    for line in (900, 901, 902, 903):
        write_alarm(server["LOG_DIR"], f"s1:1:{line}", "pump-1", "2026-11-28T01:08:04.196Z")


@pytest.mark.parametrize("size,language,line", [("phone", "fr", 900), ("phone", "en", 901),
                                                ("desktop", "fr", 902), ("desktop", "en", 903)])
def test_an_operator_sees_the_badge_and_takes_an_alarm_in_hand(browser, server, alarms, size,
                                                                language, line):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    log_in(page, server["url"], "operator")
    page.goto(server["url"] + f"/language/{language}?next=/history")
    if size == "phone":  # the menu is folded: its button carries the count
        expect(page.locator("#menu-toggle .badge-alarm")).to_be_visible()
        page.click("#menu-toggle")
    badge = page.locator("#alarm-badge")
    expect(badge).to_be_visible()
    badge.click()
    page.wait_for_url("**/alarms")
    row = page.locator(f"#alarms tbody tr:has(code:text-is('s1:1:{line}'))")
    opened = row.locator("time").first
    assert opened.get_attribute("title") == "2026-11-28 01:08:04 UTC"
    assert "02:08:04" in opened.inner_text() or "2:08:04" in opened.inner_text()  # Paris, UTC+1
    row.locator("input[name=comment]").fill("checking the seal")
    row.locator("button[type=submit]").click()
    page.wait_for_url("**/alarms**")
    row = page.locator(f"#alarms tbody tr:has(code:text-is('s1:1:{line}'))")
    note = row.locator(".ack-note").inner_text()
    assert ("par operator" if language == "fr" else "by operator") in note
    assert "checking the seal" in note and row.locator("form").count() == 0
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"alarms-{size}-{language}")
    context.close()
