"""A file from another operating point: a plain headline and an out-of-calibration warning."""

import os

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in
from tests.support.servers import ROOT

VALVE_FILE = os.path.join(ROOT, "data", "skab", "valve1", "3.csv")


@pytest.mark.parametrize("size,language", [("phone", "fr"), ("desktop", "en")])
def test_another_operating_point_is_named_as_such(browser, server, size, language):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    log_in(page, server["url"], "operator")
    page.goto(server["url"] + f"/language/{language}?next=/batch/")
    page.set_input_files("#file", VALVE_FILE)
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#summary", timeout=120_000)
    warning = page.locator("#calibration-warning")
    expect(warning).to_be_visible()
    assert ("ne ressemble pas aux données" if language == "fr"
            else "does not look like the data this model was calibrated on") in warning.inner_text()
    flow = "Débit de circulation" if language == "fr" else "Circulation flow rate"
    assert flow in warning.inner_text()
    assert page.locator("#file-verdict").inner_text().strip()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"batch-calibration-{size}-{language}")
    context.close()
