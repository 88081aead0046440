"""Every page on a 390x844 phone: no sideways scrolling, a collapsed menu, the verdict in view."""

import pytest

from tests.browser.conftest import screenshot
from tests.conftest import NORMAL_CSV
from tests.services.test_alarms import write_alarm

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def log_in(page, url, name="admin", password=None):
    from tests.conftest import PASSWORDS
    page.goto(url + "/login")
    page.fill("#username", name)
    page.fill("#password", password or PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def overflow(page):
    """How many pixels the page is wider than the screen (0 when nothing scrolls sideways)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def too_wide(page):
    """The elements that stick out on the right, to name the culprit when a page overflows."""
    return page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 6).map(e => e.tagName + '#' + e.id + '.' + e.className)")


def in_view(page, selector):
    """True when the element's top and bottom lie inside the viewport, without scrolling."""
    box = page.evaluate(
        "s => { const r = document.querySelector(s).getBoundingClientRect();"
        " return [r.top, r.bottom, window.innerHeight]; }", selector)
    assert box[0] >= -1 and box[1] <= box[2], box
    return True


def score_example(page, url):
    page.goto(url + "/?example=1")
    page.click("#reading-form button[type=submit]")
    page.wait_for_selector("#verdict")


def upload_batch(page, url):
    page.goto(url + "/batch/")
    page.set_input_files("#file", NORMAL_CSV)
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#summary", timeout=120_000)
    return page.url


def test_the_menu_is_collapsed_behind_a_button_on_a_phone(phone, server):
    log_in(phone, server["url"])
    nav = phone.locator("#main-nav")
    toggle = phone.locator("#menu-toggle")
    assert toggle.is_visible() and not nav.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    header = phone.evaluate("() => document.querySelector('header').getBoundingClientRect().height")
    assert header < 90, f"the header takes {header}px of a phone screen"
    toggle.click()
    assert nav.is_visible() and toggle.get_attribute("aria-expanded") == "true"
    screenshot(phone, "phone-menu-open")
    nav.locator("a[href='/history']").click()
    phone.wait_for_url(server["url"] + "/history")
    assert not phone.locator("#main-nav").is_visible()


def test_the_menu_is_always_open_on_a_desktop(page, server, login_as):
    page.set_viewport_size(DESKTOP)
    login_as("admin")
    assert page.locator("#main-nav").is_visible()
    assert not page.locator("#menu-toggle").is_visible()
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(server["url"] + icon).status == 200  # a favicon, not a 404
    page.goto(server["url"] + "/admin/users")
    plain = page.locator("#user-analyst form[action$='/role'] button")  # a button with no class
    assert plain.evaluate("b => getComputedStyle(b).borderRadius") == "6px"


@pytest.mark.parametrize("size,language", [("phone", "fr"), ("phone", "en"), ("desktop", "fr")])
def test_the_verdict_is_in_view_after_scoring(phone, server, size, language):
    if size == "desktop":
        phone.set_viewport_size(DESKTOP)
    log_in(phone, server["url"], "operator")
    if language == "en":
        phone.click("#menu-toggle")
        phone.click("a[lang=en]")
    score_example(phone, server["url"])
    assert in_view(phone, "#verdict"), "the verdict is below the fold"
    assert overflow(phone) <= 0, too_wide(phone)
    screenshot(phone, f"{size}-verdict-{language}")


def test_no_page_scrolls_sideways_on_a_phone(phone, server):
    write_alarm(server["LOG_DIR"], "phone-s1:1:42", "pump-1", "2026-11-28T00:08:04.196Z",
                closed_at="2026-11-28T00:20:04.196Z")
    write_alarm(server["LOG_DIR"], "phone-s1:1:900", "pump-1", "2026-11-28T01:08:04.196Z")
    log_in(phone, server["url"])
    score_example(phone, server["url"])
    result_url = upload_batch(phone, server["url"])
    pages = {"predict": "/", "batch": "/batch/", "batch-result": result_url,
             "history": "/history?date_from=2000-01-01", "alarms": "/alarms",
             "monitoring": "/monitoring", "models": "/admin/models/", "users": "/admin/users",
             "keys": "/admin/apikeys"}
    wide = {}
    for name, path in pages.items():
        phone.goto(path if path.startswith("http") else server["url"] + path)
        screenshot(phone, f"phone-{name}")
        if overflow(phone) > 0:
            wide[name] = too_wide(phone)
    phone.context.clear_cookies()
    phone.goto(server["url"] + "/login")
    if overflow(phone) > 0:
        wide["login"] = too_wide(phone)
    assert wide == {}
