"""Numbers and times as people read them, in a real browser, at desktop and phone sizes."""

import re

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in

SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.mark.parametrize("size,language", [("desktop", "fr"), ("desktop", "en"),
                                           ("phone", "fr"), ("phone", "en")])
def test_scores_severity_thresholds_and_times_in_the_readers_locale(browser, server, size,
                                                                      language):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, server["url"], "operator")
    page.goto(server["url"] + f"/language/{language}?next=/%3Fexample%3D1")
    page.fill("input[name='Pressure']", "9.5")
    page.click("#reading-form button[type=submit]")
    score = page.locator("#score").inner_text()
    severity = page.locator("#severity").inner_text()
    if language == "fr":
        assert "seuil de relevé isolé" in score and re.search(r"\d,\d", score)
        assert re.search(r"au-dessus du seuil \([\d\u202f,]+ × le seuil\)", severity)
    else:
        assert "single-reading threshold" in score and re.search(r"\d\.\d", score)
        assert re.search(r"above the threshold \([\d,.]+ × the threshold\)", severity)
    first = page.locator("#contributions tbody tr").first  # the sensor to check, in words
    french = language == "fr"
    label = first.locator(".sensor-label").inner_text()
    assert label == ("Pression en sortie de pompe" if french else "Pressure after the pump")
    assert first.locator(".value").inner_text() == ("9,500 bar" if french else "9.500 bar")
    assert "bar" in first.locator(".usual").inner_text()
    assert "-" not in first.locator(".share").inner_text()
    screenshot(page, f"numbers-predict-{size}-{language}")
    page.goto(server["url"] + "/history?date_from=2000-01-01")
    first_time = page.locator("#history-rows time").first
    assert first_time.get_attribute("title").endswith(" UTC")
    assert "T" not in first_time.inner_text() and "Z" not in first_time.inner_text()
    screenshot(page, f"numbers-history-{size}-{language}")
    context.close()
