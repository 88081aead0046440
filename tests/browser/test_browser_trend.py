"""An asset's trend and an alarm's chart in a real browser, on a desktop and a phone, FR and EN."""

from datetime import datetime, timedelta, timezone

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in, overflow, too_wide
from tests.conftest import NORMAL_CSV
from tests.services.test_alarms import write_alarm
from tests.support.monitoring_fixtures import normal_pool, write_history

ALARM = "s1:1:77"


@pytest.fixture(scope="module")
def history(server):
    """Two days of audit rows for pump-1 and an alarm that closed two hours ago."""
    now = datetime.now(timezone.utc)
    write_history(server["LOG_DIR"] + "/audit", normal_pool(NORMAL_CSV), 6.7, days=2,
                  rows_per_day=2000, end_day=now.date())
    opened = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    closed = (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_alarm(server["LOG_DIR"], ALARM, "pump-1", opened, closed_at=closed)
    return server


@pytest.mark.parametrize("size,language", [("phone", "fr"), ("phone", "en"),
                                           ("desktop", "fr"), ("desktop", "en")])
def test_an_operator_reads_an_assets_trend_and_opens_its_alarm(browser, history, size, language):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    url = history["url"]
    log_in(page, url, "operator")
    page.goto(url + f"/language/{language}?next=/")
    if size == "phone":
        page.click("#menu-toggle")
    page.click("#main-nav a[href='/monitoring/trend']")
    page.wait_for_selector("#trend-score svg")
    assert page.locator("#trend-Current figcaption").inner_text().startswith(
        "Courant moteur" if language == "fr" else "Motor current")
    assert "(A)" in page.locator("#trend-Current figcaption").inner_text()
    svg = page.locator("#trend-score svg").bounding_box()
    assert svg["width"] <= page.viewport_size["width"] and svg["height"] > 60
    assert overflow(page) <= 0, too_wide(page)
    hover = page.locator("#trend-score rect.hover title").first.text_content()
    assert "UTC" in hover and ("seuil" if language == "fr" else "threshold") in hover
    screenshot(page, f"trend-{size}-{language}")
    page.select_option("#window", "7d")
    page.click("#trend-filters button[type=submit]")
    page.wait_for_url("**window=7d**")
    assert page.locator("#trend-score svg text.axis").count() >= 5
    assert overflow(page) <= 0, too_wide(page)
    page.click(f"#trend-alarms a:has(code:text-is('{ALARM}'))")
    page.wait_for_selector("#alarm-chart-score svg")
    assert page.locator("#alarm-chart-score rect.alarm-area").count() == 1
    assert page.locator(".trend-chart").count() == 3  # the score and the alarm's two sensors
    assert overflow(page) <= 0, too_wide(page)
    screenshot(page, f"alarm-chart-{size}-{language}")
    context.close()


def test_a_bad_window_is_refused_in_the_readers_language(browser, history):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    log_in(page, history["url"], "operator")
    page.goto(history["url"] + "/language/fr?next=/monitoring/trend?window=1h")
    assert "ne fait pas partie des périodes proposées" in page.locator("#trend-error").inner_text()
    assert overflow(page) <= 0, too_wide(page)
    context.close()
