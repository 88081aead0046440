"""A person logs in and scores a reading in French and in English, in a real browser."""

import csv
import glob
import os

from playwright.sync_api import expect

from tests.browser.conftest import screenshot


def audit_request_ids(log_dir):
    ids = set()
    for path in glob.glob(os.path.join(log_dir, "audit", "*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            ids.update(row["request_id"] for row in csv.DictReader(handle))
    return ids


def test_login_page(page, server):
    page.goto(server["url"] + "/")
    assert page.url.startswith(server["url"] + "/login")
    assert page.locator("html").get_attribute("lang") == "fr"
    screenshot(page, "login-fr")


def test_score_a_reading_in_french_then_in_english(page, server, login_as):
    login_as("operator")
    page.click("#fill-example")
    page.click("#reading-form button[type=submit]")
    verdict = page.locator("#verdict").inner_text()
    assert verdict in ("Comportement normal", "Comportement anormal détecté")
    request_id = page.locator("#request-id").inner_text()
    assert request_id in audit_request_ids(server["LOG_DIR"])
    expect(page.locator("#contributions tbody tr")).to_have_count(8)
    screenshot(page, "predict-fr")

    page.click("a[lang=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("#fill-example")
    page.fill("input[name='Pressure']", "9.5")
    page.click("#reading-form button[type=submit]")
    assert page.locator("#verdict").inner_text() == "Abnormal behaviour detected"
    assert page.locator("#contributions tbody tr").first.get_attribute("data-sensor") == "Pressure"
    screenshot(page, "predict-en")


def test_invalid_value_is_shown_next_to_its_field(page, server, login_as):
    login_as("operator")
    page.click("#fill-example")
    page.fill("input[name='Current']", "abc")
    page.click("#reading-form button[type=submit]")
    assert page.locator("#Current-error").is_visible()
    expect(page.locator("#verdict")).to_have_count(0)
    screenshot(page, "predict-invalid")
