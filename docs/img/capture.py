"""Refresh the screenshots of docs/presentation.md against a real gunicorn server with real data.

Run from the repository root: `.venv/bin/python docs/img/capture.py`. It trains pump-1 v1 on
data/anomaly-free.csv (as `make run` does) and a candidate v2 on a labelled SKAB file, in
temporary folders (never the real model_store/, logs/ or instance/), serves them with gunicorn
(tests/support/servers.py), and drives Debian's Chromium with Playwright as the browser tests do.
"""

import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.servers import gunicorn_server  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.services import users  # noqa: E402
from webapp.services.registry import ModelRegistry  # noqa: E402
from webapp.services.training import train_version  # noqa: E402

OUT = os.path.join(ROOT, "docs", "img")
NORMAL_FILE = os.path.join(ROOT, "data", "anomaly-free.csv")
LABELLED_FILE = os.path.join(ROOT, "data", "skab", "valve1", "1.csv")
DRIFTED_FILE = os.path.join(ROOT, "data", "skab", "other", "1.csv")
PASSWORD = "capture-password-1"
WIDTH, MAX_HEIGHT = 1280, 1400
# Document coordinates of the card (section) holding the element a selector names.
REGION_TOP = ("s => document.querySelector(s).closest('section').getBoundingClientRect().top"
              " + window.scrollY")
REGION_BOTTOM = ("s => document.querySelector(s).closest('section').getBoundingClientRect()"
                 ".bottom + window.scrollY")


def prepare(base):
    """Store with pump-1 v1 (active) and v2 (candidate), and one user per role."""
    paths = {"MODEL_STORE": os.path.join(base, "model_store"),
             "LOG_DIR": os.path.join(base, "logs"), "INSTANCE_DIR": os.path.join(base, "instance")}
    store = ModelRegistry(paths["MODEL_STORE"])
    train_version(store, "pump-1", NORMAL_FILE, created_by="capture")
    train_version(store, "pump-1", LABELLED_FILE, normal_rows=400, created_by="analyst")
    app = create_app({**paths, "ADMIN_PASSWORD": PASSWORD})
    for role in ("analyst", "operator"):
        users.create_user(app.config["DATABASE"], role, PASSWORD, role)
    return paths


def shoot(page, name, first=None, last=None):
    """Save docs/img/<name>.png: the page from the top of `first` to the bottom of `last`.

    Without selectors, the top of the page; the height is capped at MAX_HEIGHT px.
    """
    top, bottom = 0, page.evaluate("document.documentElement.scrollHeight")
    if first:
        top = page.evaluate(REGION_TOP, first) - 8
        bottom = page.evaluate(REGION_BOTTOM, last or first) + 8
    height = min(bottom - top, MAX_HEIGHT)
    path = os.path.join(OUT, f"{name}.png")
    page.screenshot(path=path, full_page=True,
                    clip={"x": 0, "y": top, "width": WIDTH, "height": height})
    print(f"{path}: {os.path.getsize(path) // 1024} KiB, {height} px high")


def log_in(page, url, name):
    page.goto(url + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


def upload(page, url, path):
    """Upload a CSV on /batch and wait for its result page."""
    page.goto(url + "/batch/")
    page.set_input_files("#file", path)
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#summary", timeout=300_000)
    page.wait_for_timeout(800)  # the chart's animation


def new_page(browser, url, name):
    """A fresh browser context logged in as `name`."""
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    log_in(page, url, name)
    return context, page


def capture(url, browser):
    """One screenshot per stage of the talk, in the order a plant would live them."""
    context, page = new_page(browser, url, "operator")
    page.click("#fill-example")
    page.fill("input[name='Pressure']", "9.5")  # a pressure far from normal operation
    page.click("#reading-form button[type=submit]")
    page.wait_for_selector("#verdict")
    shoot(page, "stage2-form-verdict")
    context.close()

    admin_context, admin = new_page(browser, url, "admin")
    admin.goto(url + "/admin/models/pump-1/versions/v2")
    admin.fill("section form[action$='/activate'] input[name=reason]",
               "v2 calibrée sur le banc valve1")
    admin.click("section form[action$='/activate'] button")
    admin.click("#confirm-yes")  # the switch restates its consequence first
    admin.wait_for_url(url + "/admin/models/")

    context, page = new_page(browser, url, "analyst")
    upload(page, url, LABELLED_FILE)
    shoot(page, "stage3-batch-result", "#summary", "#score-chart")
    upload(page, url, DRIFTED_FILE)  # another operating point of the test bed: drift
    page.goto(url + "/monitoring?asset=pump-1&window=hour")
    page.wait_for_timeout(1500)
    shoot(page, "stage4-monitoring-drift", "#drift-pump-1")
    page.goto(url + "/monitoring/trend?asset=pump-1&window=6h")
    shoot(page, "trend-pump-1")  # the two files just scored, sensor by sensor
    context.close()

    admin.goto(url + "/admin/models/")
    admin.fill("#rollback-pump-1 input[name=reason]", "trop d'alarmes sur l'autre point de marche")
    admin.click("#rollback-pump-1 button")
    admin.click("#confirm-yes")
    admin.wait_for_url(url + "/admin/models/")
    admin.goto(url + "/admin/models/")
    shoot(page=admin, name="stage4-model-versions")
    admin_context.close()


def main():
    with tempfile.TemporaryDirectory(prefix="vigie-capture-") as base:
        paths = prepare(base)
        with gunicorn_server(paths, workers=2) as (url, _):
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    capture(url, browser)
                finally:
                    browser.close()


if __name__ == "__main__":
    main()
