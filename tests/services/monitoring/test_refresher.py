"""Day summaries are written as the audit is appended: a first view summarises almost nothing."""

import json
import os
import time

import numpy as np

from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, synthetic_rows
from webapp.services.monitoring import report as report_module
from webapp.services.audit import CsvAuditSink
from webapp.services.monitoring.refresher import SummaryRefresher
from webapp.services.monitoring.report import MonitoringSources, report_for
from webapp.services.registry import ModelRegistry

DAY = "2026-03-20"


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def cache_covers(log_dir, path):
    cache = os.path.join(log_dir, "cache", f"audit-{os.path.basename(path)}.json")
    try:
        with open(cache, encoding="utf-8") as handle:
            return json.load(handle)["offset"] == os.path.getsize(path)
    except (OSError, ValueError):
        return False


def test_appends_keep_the_day_summary_current_and_a_fresh_view_reads_no_row(paths, monkeypatch):
    log_dir = paths["LOG_DIR"]
    sink = CsvAuditSink(os.path.join(log_dir, "audit"), SummaryRefresher(log_dir, every=0.2))
    pool = normal_pool(NORMAL_CSV)
    rows = synthetic_rows(DAY, 900, pool, 1.0, np.random.default_rng(0))
    for start in range(0, 900, 100):  # a burst of writes: the trailing pass takes the last
        sink.write(rows[start:start + 100])
    path = sink.path_for(DAY)
    assert wait_for(lambda: cache_covers(log_dir, path))

    def no_parsing(*args, **kwargs):
        raise AssertionError("a first view after a restart parsed audit rows")
    monkeypatch.setattr(report_module, "summarise_audit", no_parsing)
    fresh = MonitoringSources(log_dir, ModelRegistry(paths["MODEL_STORE"]))  # a new worker
    report = report_for(fresh, "pump-1", "dates", DAY, DAY)
    assert report["model"]["readings"] == 900


def test_the_app_sink_refreshes_summaries_after_an_api_request(app, client):
    from webapp.services import apikeys
    from tests.api.test_predict import normal_readings, post
    key = apikeys.create_key(app.config["DATABASE"], "gw", "operator", "t")[1]
    assert post(client, {"asset": "pump-1", "readings": normal_readings(5)}, key).status_code \
        == 200
    audit_dir = app.config["AUDIT_DIR"]
    [name] = os.listdir(audit_dir)
    assert wait_for(lambda: cache_covers(app.config["LOG_DIR"], os.path.join(audit_dir, name)))


def test_a_failing_refresh_never_fails_the_audit_write(tmp_path):
    def broken(days):
        raise RuntimeError("summary store unavailable")
    sink = CsvAuditSink(str(tmp_path), broken)
    sink.write([{"timestamp_utc": f"{DAY}T10:00:00.000Z", "request_id": "r1"}])
    assert os.path.getsize(sink.path_for(DAY)) > 0
