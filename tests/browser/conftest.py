"""Browser fixtures: one gunicorn server and one Chromium per module; screenshots saved."""

import os
import shutil

import pytest

from tests.conftest import PASSWORDS
from tests.support.servers import ROOT, gunicorn_server

CHROMIUM = os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.path.join(ROOT, "test-artifacts", "screenshots")
# Without these, Chromium tries to reach Google's services, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_store):
    """A gunicorn server on its own store, logs and instance; users for each role."""
    base = tmp_path_factory.mktemp("browser")
    paths = {"MODEL_STORE": str(base / "model_store"), "LOG_DIR": str(base / "logs"),
             "INSTANCE_DIR": str(base / "instance")}
    shutil.copytree(trained_store, paths["MODEL_STORE"])
    from webapp import create_app
    from webapp.services import users
    app = create_app({**paths, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    for role in ("analyst", "operator"):
        users.create_user(app.config["DATABASE"], role, PASSWORDS[role], role)
    with gunicorn_server(paths, workers=2) as (url, _):
        yield {"url": url, **paths}


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make test` installs it")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def login_as(page, server):
    """Log in through the real login page."""
    def log_in(name):
        page.goto(server["url"] + "/login")
        page.fill("#username", name)
        page.fill("#password", PASSWORDS[name])
        page.click("button[type=submit]")
        page.wait_for_url(server["url"] + "/")
        return page
    return log_in


def screenshot(page, name):
    """Save a full-page screenshot under test-artifacts/screenshots/."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)
