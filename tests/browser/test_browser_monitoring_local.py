"""Monitoring in a real browser: chart hours in plant local time, the calibration warning."""

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in, overflow, too_wide
from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, write_history

FAR = {"Current": 40.0, "Pressure": 40.0, "Voltage": 40.0}


@pytest.fixture(scope="module")
def shifted(server):
    """Today's readings, far from the data pump-1 v1 was calibrated on."""
    write_history(server["LOG_DIR"] + "/audit", normal_pool(NORMAL_CSV), 6.7, days=1,
                  rows_per_day=600, end_day=datetime.now(timezone.utc).date(), shift=FAR)
    return server


@pytest.mark.parametrize("size,language", [("phone", "fr"), ("phone", "en"),
                                           ("desktop", "fr"), ("desktop", "en")])
def test_chart_hours_are_plant_time_and_the_calibration_warning_is_plain(browser, shifted,
                                                                         size, language):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    log_in(page, shifted["url"], "analyst")
    page.goto(shifted["url"] + f"/language/{language}?next=/monitoring?asset=pump-1&window=day")
    page.wait_for_function("Chart.getChart(document.getElementById('chart-volume')) !== undefined")
    data = json.loads(page.locator("#monitoring-data").text_content())
    first = datetime.fromisoformat(data["report"]["hours"][0].replace("Z", "+00:00"))
    paris = first.astimezone(ZoneInfo("Europe/Paris"))
    label = page.evaluate("Chart.getChart(document.getElementById('chart-volume')).data.labels[0]")
    assert f"{paris.hour:02d}" in label and f"{first.hour:02d}:00" != label[-5:], label
    title = page.evaluate("(() => { const c = Chart.getChart(document.getElementById("
                          "'chart-volume')); return c.options.plugins.tooltip.callbacks"
                          ".title.call(c.tooltip, [{dataIndex: 0}]); })()")
    assert title.endswith(f"{first:%Y-%m-%d %H:%M} UTC)"), title
    warning = page.locator("#calibration-pump-1").inner_text()
    assert ("mauvais équipement" if language == "fr" else "wrong asset") in warning
    assert overflow(page) <= 0, too_wide(page)
    context.close()
