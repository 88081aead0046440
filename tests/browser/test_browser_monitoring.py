"""An analyst scores a drifted SKAB file, then reads drift and history in a real browser."""

import os

from playwright.sync_api import expect

from features.schema import SENSOR_COLUMNS
from tests.browser.conftest import screenshot
from tests.support.servers import ROOT
from webapp.services.audit import CsvAuditSink
from webapp.services.registry import ActiveModels, ModelRegistry
from webapp.services.scoring import predict_and_audit
from webapp.services.training import load_training_frame

SKAB_FILE = os.path.join(ROOT, "data", "skab", "other", "1.csv")


def score_skab_file(server):
    """Score a labelled SKAB experiment as the batch channel would; returns its request id."""
    loaded = ActiveModels(ModelRegistry(server["MODEL_STORE"])).get("pump-1")
    frame = load_training_frame(SKAB_FILE)[list(SENSOR_COLUMNS)]
    sink = CsvAuditSink(os.path.join(server["LOG_DIR"], "audit"))
    request_id, _ = predict_and_audit(loaded, frame, sink, channel="batch", principal="analyst",
                                      batch_id="skab-1")
    return request_id


def test_analyst_sees_drift_and_answers_who_predicted_what(page, server, login_as):
    request_id = score_skab_file(server)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(response.url)
            if response.status >= 400 and "favicon" not in response.url else None)
    login_as("analyst")
    page.goto(server["url"] + "/monitoring?asset=pump-1&window=hour")
    summary = page.locator("#drift-pump-1 .drift-summary").inner_text()
    assert "capteurs sur 8 ont dérivé depuis l'entraînement" in summary
    assert page.locator("#drift-pump-1 tr.drift-drift").count() >= 3
    for chart in ("chart-volume", "chart-latency", "chart-anomaly-rate", "chart-scores"):
        assert page.evaluate(f"Chart.getChart(document.getElementById('{chart}')) !== undefined")
    expect(page.locator("#overall-status.status-alert")).to_have_count(1)
    screenshot(page, "monitoring-drift-fr")
    assert errors == []

    page.goto(server["url"] + "/history")
    page.fill("#request_id", request_id)
    page.click("#history-filters button[type=submit]")
    page.click(f"#history-rows a:has-text('{request_id}')")
    assert page.locator("#model-version").inner_text() == "v1"
    screenshot(page, "history-record-fr")
