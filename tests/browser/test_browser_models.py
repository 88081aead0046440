"""An analyst trains and compares a candidate in the browser; an admin activates it, rolls back."""

import csv
import glob
import os

from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.support.servers import ROOT

SKAB_FILE = os.path.join(ROOT, "data", "skab", "valve1", "1.csv")


def audit_versions(log_dir):
    """model_version of every audit row, in file order."""
    versions = []
    for path in sorted(glob.glob(os.path.join(log_dir, "audit", "*.csv"))):
        with open(path, newline="", encoding="utf-8") as handle:
            versions.extend(row["model_version"] for row in csv.DictReader(handle))
    return versions


def event_rows(log_dir):
    with open(os.path.join(log_dir, "model_events.csv"), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def score_example(page, server):
    page.goto(server["url"] + "/")
    page.click("#fill-example")
    page.click("#reading-form button[type=submit]")
    return page.locator("#request-id").inner_text()


def sign_out(page):
    page.click("form[action$='/logout'] button")


def test_train_compare_activate_and_roll_back(page, server, login_as):
    login_as("analyst")
    page.click("a[lang=en]")
    score_example(page, server)  # an audited reading for the window comparison
    page.click("nav a[href='/admin/models/']")
    expect(page.locator("#row-pump-1-v1 .badge-active")).to_have_count(1)
    expect(page.locator("form[action$='/activate']")).to_have_count(0)  # analysts do not switch
    page.click("text=Train a candidate")
    page.fill("#asset", "pump-1")
    page.set_input_files("#normal_file", SKAB_FILE)
    page.fill("#normal_rows", "400")
    page.set_input_files("#labelled_file", SKAB_FILE)
    screenshot(page, "models-train-en")
    page.click("#train-form button[type=submit]")
    page.wait_for_selector("#job-result", timeout=60000)  # the page follows the job by itself
    assert "is trained" in page.locator("#job-result").inner_text()
    screenshot(page, "models-job-done-en")
    page.click("text=Compare v2 with the active version")
    expect(page.locator("#labelled table.metrics tbody tr")).to_have_count(2)
    evidence = page.locator("#evidence").inner_text()  # the summary comes first, with warnings
    assert "Should v2 replace v1?" in evidence and "1.csv is the file v2 was trained on" in evidence
    page.select_option("#hours", "24")
    page.click("#audited button[type=submit]")
    expect(page.locator("#agreement")).to_have_count(1)
    screenshot(page, "models-candidate-en")
    sign_out(page)

    login_as("admin")
    page.goto(server["url"] + "/admin/models/pump-1/versions/v2")
    page.fill("section form[action$='/activate'] input[name=reason]", "valve retrofit done")
    page.click("section form[action$='/activate'] button")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()  # the consequence is restated before anything changes
    assert "instead of v1" in page.locator("#confirm-text").inner_text()
    screenshot(page, "models-confirm-activate-en")
    page.click("#confirm-no")
    expect(dialog).to_be_hidden()
    assert [e["action"] for e in event_rows(server["LOG_DIR"])] == ["train"]
    page.click("section form[action$='/activate'] button")
    page.click("#confirm-yes")
    expect(page.locator("#row-pump-1-v2 .badge-active")).to_have_count(1)
    assert score_example(page, server)
    assert audit_versions(server["LOG_DIR"])[-1] == "v2"
    page.goto(server["url"] + "/admin/models/")
    page.fill("#rollback-pump-1 input[name=reason]", "too many alarms")
    page.click("#rollback-pump-1 button")
    assert "Roll pump-1 back to v1" in page.locator("#confirm-text").inner_text()
    page.click("#confirm-yes")
    expect(page.locator("#row-pump-1-v1 .badge-active")).to_have_count(1)
    assert "too many alarms" in page.locator("#history").inner_text()
    screenshot(page, "models-index-en")
    score_example(page, server)
    assert audit_versions(server["LOG_DIR"])[-1] == "v1"
    assert [(e["principal"], e["action"], e["to_version"]) for e in event_rows(
        server["LOG_DIR"])] == [("analyst", "train", "v2"), ("admin", "activate", "v2"),
                                ("admin", "rollback", "v1")]
    page.click("a[lang=fr]")
    page.goto(server["url"] + "/admin/models/")
    assert page.locator("h1").inner_text() == "Versions des modèles"
    screenshot(page, "models-index-fr")
