"""Error messages in the reader's language, in a real browser, at desktop and phone sizes."""

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in
from tests.views.test_messages import english_left


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_wrong_history_or_monitoring_filter_is_explained_in_the_readers_language(
        browser, server, size, language):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    log_in(page, server["url"], "analyst")
    page.goto(server["url"] + f"/language/{language}?next=/history")
    page.goto(server["url"] + "/history?date_from=2026-03-05&date_to=2026-03-01")
    error = page.locator("#history-error").inner_text()
    assert ("le jour de fin est avant" if language == "fr" else "the end day is before") in error
    page.goto(server["url"] + "/monitoring?window=1h")
    text = page.locator("main").inner_text()
    if language == "fr":
        assert "ne fait pas partie des périodes proposées" in text and english_left(text) == []
    else:
        assert "is not one of the windows offered" in text
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"messages-monitoring-{size}-{language}")
    context.close()
