"""Monitoring and history on 1,000,000 audit rows over 30 days, through the Flask test client."""

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np

from tests.support.monitoring_fixtures import (normal_pool, synthetic_rows, write_audit_day,
                                               write_history)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NORMAL_CSV = os.path.join(ROOT, "tests", "data", "normal_400.csv")
DAYS = 30
ROWS = 1_000_000
PASSWORD = "bench-pass-123"


def build_app(workdir):
    """An app on the bench's own store, logs and instance, with an analyst user and key."""
    from webapp import create_app
    from webapp.services import apikeys, users
    app = create_app({"MODEL_STORE": os.path.join(workdir, "store"),
                      "LOG_DIR": os.path.join(workdir, "logs"),
                      "INSTANCE_DIR": os.path.join(workdir, "instance"), "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "ADMIN_PASSWORD": PASSWORD})
    if users.authenticate(app.config["DATABASE"], "analyst", PASSWORD) is None:
        users.create_user(app.config["DATABASE"], "analyst", PASSWORD, "analyst")
    key = apikeys.create_key(app.config["DATABASE"], f"bench-{time.time_ns()}", "analyst",
                             "bench")[1]
    client = app.test_client()
    client.post("/login", data={"username": "analyst", "password": PASSWORD})
    return app, client, key


def timed(call):
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def get_ok(client, path, **kwargs):
    response = client.get(path, **kwargs)
    assert response.status_code == 200, (path, response.status_code)
    return response


def run(workdir):
    from webapp.services.registry import ModelRegistry
    from webapp.services.training import train_version

    registry = ModelRegistry(os.path.join(workdir, "store"))
    train_version(registry, "pump-1", NORMAL_CSV, created_by="bench")
    threshold = registry.manifest("pump-1", "v1")["threshold"]
    pool = normal_pool(NORMAL_CSV)
    today = datetime.now(timezone.utc).date()
    audit_dir = os.path.join(workdir, "logs", "audit")
    generate, _ = timed(lambda: write_history(audit_dir, pool, threshold, days=DAYS,
                                              rows_per_day=ROWS // DAYS, end_day=today,
                                              shift={"Current": 1.0}))
    size = sum(os.path.getsize(os.path.join(audit_dir, n)) for n in os.listdir(audit_dir))
    rows = []

    def add(case, figure, value, unit, note=""):
        rows.append({"case": case, "figure": figure, "value": value, "unit": unit, "note": note})

    add("monitoring: synthetic audit history", "rows", (ROWS // DAYS) * DAYS, "rows",
        f"{DAYS} day files, {size / 1e6:.0f} MB, generated in {generate:.0f} s")
    app, client, key = build_app(workdir)
    page = "/monitoring?window=30d"
    cold, _ = timed(lambda: get_ok(client, page))
    add("monitoring page 30 days, cold (no cache)", "time", round(cold, 2), "s")
    warm = min(timed(lambda: get_ok(client, page))[0] for _ in range(3))
    add("monitoring page 30 days, warm (same worker)", "time", round(warm, 3), "s")
    api = min(timed(lambda: get_ok(client, "/api/v1/monitoring?window=30d",
                                   headers={"X-API-Key": key}))[0] for _ in range(3))
    add("GET /api/v1/monitoring 30 days, warm", "time", round(api, 3), "s")
    _, other, other_key = build_app(workdir)  # another worker: disk cache, empty memory
    fresh, _ = timed(lambda: get_ok(other, page))
    add("monitoring page 30 days, another worker (disk cache)", "time", round(fresh, 3), "s")
    fresh_api, _ = timed(lambda: get_ok(other, "/api/v1/monitoring?window=7d",
                                        headers={"X-API-Key": other_key}))
    add("GET /api/v1/monitoring 7 days, another worker", "time", round(fresh_api, 3), "s")
    day = today.isoformat()
    write_audit_day(audit_dir, day, synthetic_rows(day, 1000, pool, threshold,
                                                   np.random.default_rng(9)))
    grown, _ = timed(lambda: get_ok(client, page))
    add("monitoring page after 1,000 new rows today", "time", round(grown, 3), "s",
        "only the appended bytes are read")
    first, _ = timed(lambda: get_ok(client, "/history"))
    add("history first page, no filter", "time", round(first, 3), "s")
    request_id = f"{(today - timedelta(days=20)).strftime('%Y%m%d')}00000042"
    found, response = timed(lambda: get_ok(client, f"/history/{request_id}"))
    add("history: which version answered request <id> (20 days back)", "time",
        round(found, 3), "s")
    rare, _ = timed(lambda: get_ok(client, "/history?principal=nobody"))
    add("history: filter matching nothing (scans all 30 days)", "time", round(rare, 2), "s")
    export, response = timed(lambda: len(get_ok(client, "/history/export.csv?principal="
                                                "apikey:line-3&verdict=anomaly").data))
    add("history export: anomalies of one API key, 30 days", "time", round(export, 2), "s",
        f"{response / 1e6:.1f} MB")
    seconds, megabytes, peak = export_everything(audit_dir)
    add("history export of every row (own process)", "peak RSS", peak, "MB",
        f"{megabytes:.0f} MB of CSV in {seconds:.1f} s")
    shutil.rmtree(os.path.join(workdir, "logs", "cache"), ignore_errors=True)
    rows.extend(first_view_after_restart(workdir, pool, threshold, today))
    return rows


def summaries_cover(log_dir):
    """True when every audit day file's summary covers the whole file."""
    audit_dir = os.path.join(log_dir, "audit")
    for name in os.listdir(audit_dir):
        cache = os.path.join(log_dir, "cache", f"audit-{name}.json")
        try:
            with open(cache, encoding="utf-8") as handle:
                if json.load(handle)["offset"] != os.path.getsize(os.path.join(audit_dir, name)):
                    return False
        except (OSError, ValueError):
            return False
    return True


def first_view_after_restart(workdir, pool, threshold, today, chunk=2_000):
    """The same history written through the audit sink, whose appends keep the hourly
    summaries current (as in production); then a new app, as after a restart, is timed."""
    from webapp.services.audit import CsvAuditSink
    from webapp.services.monitoring.refresher import SummaryRefresher

    workdir = os.path.join(workdir, "append")
    registry_dir = os.path.join(os.path.dirname(workdir), "store")
    shutil.copytree(registry_dir, os.path.join(workdir, "store"))
    log_dir = os.path.join(workdir, "logs")
    sink = CsvAuditSink(os.path.join(log_dir, "audit"), SummaryRefresher(log_dir))
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for back in range(DAYS - 1, -1, -1):
        day = (today - timedelta(days=back)).isoformat()
        day_rows = synthetic_rows(day, ROWS // DAYS, pool, threshold, rng, shift={"Current": 1.0})
        for start in range(0, len(day_rows), chunk):
            sink.write(day_rows[start:start + chunk])
    written = time.perf_counter() - started
    while not summaries_cover(log_dir):  # the trailing summary pass of the last write
        time.sleep(0.1)
    _, client, key = build_app(workdir)
    page, _ = timed(lambda: get_ok(client, "/monitoring?window=30d"))
    _, other, other_key = build_app(workdir)
    api, _ = timed(lambda: get_ok(other, "/api/v1/monitoring?window=30d",
                                  headers={"X-API-Key": other_key}))
    note = f"history written through the audit sink in {written:.0f} s, chunks of {chunk} rows"
    return [{"case": "monitoring page 30 days, first view after a restart", "figure": "time",
             "value": round(page, 3), "unit": "s", "note": note},
            {"case": "GET /api/v1/monitoring 30 days, first call after a restart",
             "figure": "time", "value": round(api, 3), "unit": "s",
             "note": "summaries kept as the audit is appended"}]


EXPORT_SCRIPT = """
import json, resource, sys, time
from webapp.services.history import HistoryFilter, export_csv
started, size = time.perf_counter(), 0
for chunk in export_csv(sys.argv[1], HistoryFilter()):
    size += len(chunk)
print(json.dumps([time.perf_counter() - started, size / 1e6,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024]))
"""


def export_everything(audit_dir):
    """(seconds, MB exported, peak RSS MB) of exporting every audit row in a fresh process,
    so that the peak belongs to the export alone."""
    done = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, audit_dir], cwd=ROOT,
                          check=True, capture_output=True, text=True)
    seconds, megabytes, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return round(seconds, 1), megabytes, peak
