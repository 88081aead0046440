"""A person uploads a CSV export in a real browser, under gunicorn with two workers."""

import glob
import json
import os
import signal
import time

from tests.browser.conftest import screenshot
from tests.conftest import NORMAL_CSV


def test_upload_with_progress_then_results_chart_and_downloads(page, server, login_as, tmp_path):
    source = tmp_path / "export.csv"
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()
    body = lines[1:] * 20
    body[10] = body[10].replace(";", ";abc", 1)
    source.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    login_as("operator")
    page.goto(server["url"] + "/batch/")
    assert page.locator("html").get_attribute("lang") == "fr"
    page.set_input_files("#file", str(source))
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#summary", timeout=120_000)  # upload, polling, then the results
    assert page.locator("#rows-read").inner_text() == "8\u202f000"  # French digit grouping
    assert page.locator("#rows-scored").inner_text() == "7\u202f999"
    assert page.locator("#rows-rejected").inner_text() == "1"
    assert page.evaluate("() => !!window.Chart && !!Chart.getChart('score-chart')")
    assert page.locator("#rejected-rows td").first.inner_text() == "12"
    screenshot(page, "batch-result-fr")
    with page.expect_download() as download:
        page.click("#download-results")
    results = download.value.path()
    with open(results, encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 8000  # header + 7999 scored rows
    batch_id = page.locator("#batch-id").inner_text()
    assert os.path.isfile(os.path.join(server["LOG_DIR"], "batches", batch_id, "summary.json"))


def test_missing_columns_come_back_on_the_form(page, server, login_as, tmp_path):
    source = tmp_path / "wrong.csv"
    source.write_text("datetime;Current\n2020-01-01 00:00:00;2.1\n", encoding="utf-8")
    batches = os.path.join(server["LOG_DIR"], "batches", "*")
    before = len(glob.glob(batches))
    login_as("operator")
    page.goto(server["url"] + "/batch/")
    page.set_input_files("#file", str(source))
    page.click("#batch-form button[type=submit]")
    error = page.locator("#file-error")
    error.wait_for()
    assert "Accelerometer1RMS" in error.inner_text() and "Current" not in error.inner_text()
    assert len(glob.glob(batches)) == before  # nothing queued, nothing scored
    screenshot(page, "batch-missing-columns")


def test_a_worker_killed_while_scoring_is_reported_as_a_failure(page, server, login_as, tmp_path):
    source = tmp_path / "long.csv"
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()
    source.write_text("\n".join([lines[0], *(lines[1:] * 500)]) + "\n", encoding="utf-8")
    login_as("operator")
    page.goto(server["url"] + "/batch/")
    page.set_input_files("#file", str(source))
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#processing", timeout=60_000)
    batch_id = page.locator("#batch-id").inner_text()
    status_path = os.path.join(server["LOG_DIR"], "batches", batch_id, "status.json")
    deadline = time.monotonic() + 60
    while json.load(open(status_path)).get("rows_read", 0) == 0:  # a chunk done, more to go
        assert time.monotonic() < deadline, "scoring never started"
        time.sleep(0.05)
    os.kill(json.load(open(status_path))["pid"], signal.SIGKILL)  # the worker that scores it
    page.wait_for_selector("#failure", timeout=60_000)  # gunicorn restarts the worker
    assert "Déposez le fichier à nouveau" in page.locator("#failure").inner_text()
    screenshot(page, "batch-worker-died")
