"""Drift an analyst can trust: no verdict on one small upload, badges that follow the legend."""

import os

import pytest

from features.schema import SENSOR_COLUMNS
from tests.browser.conftest import screenshot
from tests.browser.test_browser_phone import DESKTOP, PHONE, log_in
from tests.support.servers import ROOT
from webapp.services.audit import CsvAuditSink
from webapp.services.registry import ActiveModels, ModelRegistry
from webapp.services.scoring import predict_and_audit
from webapp.services.training import load_training_frame

SKAB_FILE = os.path.join(ROOT, "data", "skab", "other", "1.csv")
BADGE_FOR_LEVEL = {"forme stable": {"stable"}, "décalage modéré": {"avertissement"},
                   "décalage important": {"avertissement", "dérive"},
                   "stable shape": {"stable"}, "moderate shift": {"warning"},
                   "large shift": {"warning", "drift"}}


@pytest.fixture(scope="module")
def small_upload(server):
    """300 readings of another operating point, scored in one go (one small upload)."""
    loaded = ActiveModels(ModelRegistry(server["MODEL_STORE"])).get("pump-1")
    frame = load_training_frame(SKAB_FILE)[list(SENSOR_COLUMNS)].iloc[:300]
    predict_and_audit(loaded, frame, CsvAuditSink(os.path.join(server["LOG_DIR"], "audit")),
                      channel="batch", principal="analyst", batch_id="small-1")


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_one_small_upload_gets_no_drift_verdict(browser, server, small_upload, size, language):
    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    log_in(page, server["url"], "analyst")
    page.goto(server["url"] + f"/language/{language}?next=/monitoring%3Fwindow%3Dday")
    summary = page.locator("#drift-pump-1 .drift-summary").inner_text()
    assert ("Trop peu de relevés pour un verdict" if language == "fr"
            else "Too few readings for a verdict") in summary
    assert page.locator("#drift-pump-1 tr.drift-drift, #drift-pump-1 tr.drift-warning").count() == 0
    assert page.locator("#drift-legend").is_visible()
    assert "drifted" not in page.locator("#overall-status").inner_text()
    for row in page.locator("#drift-pump-1 tbody tr").all():  # words stand next to the figures
        assert row.locator(".psi-words").inner_text() in BADGE_FOR_LEVEL
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"drift-small-upload-{size}-{language}")
    context.close()
