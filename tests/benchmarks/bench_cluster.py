"""Several instances: requests/s through nginx (one and two instances on PostgreSQL), the cost
of one audit row and of one record-log row (rejection, feedback, the menu's open-alarm count) in
PostgreSQL against the CSV file, and a million audit rows in PostgreSQL.

Starts its own PostgreSQL and nginx (tests/support) on loopback and stops them at the end.
"""

import json
import os
import shutil
import tempfile
import time

import sqlalchemy as sa

from features.validation import FieldError
from tests.benchmarks.bench_api import load, quantile_ms
from tests.support.servers import free_port, gunicorn_server, start_gunicorn, stop
from tests.support.cluster import READING
from tests.support.nginx import nginx_missing_reason, nginx_proxy
from tests.support.postgres import PostgresServer, postgres_missing_reason
from webapp.services import apikeys, database, schema, users
from webapp.services.alarms import AlarmLog, open_alarm_count
from webapp.services.audit import CsvAuditSink
from webapp.services.feedback import record_feedback
from webapp.services.record_log import Logs
from webapp.services.rejections import record_rejections
from webapp.services.registry import ModelRegistry
from webapp.services.audit_db import DatabaseAuditSink, audit
from webapp.services.monitoring.report import MonitoringSources, report_for
from webapp.services.training import train_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINING_CSV = os.path.join(ROOT, "data", "anomaly-free.csv")
SINGLE_WRITES = 2000
BATCH_ROWS = 20_000
MILLION = 1_000_000
RECORD_WRITES = 1000
HTTP_REQUESTS = 1500
CLIENTS = 4
WORKERS = 2


def audit_row(i, day="2026-03-04"):
    return {"timestamp_utc": f"{day}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}."
                             f"{i % 1000:03d}Z",
            "request_id": f"r{i}", "channel": "api", "principal": "apikey:bench",
            "asset": "pump-1", "model_version": "v1" if i % 3 else "v2", "model_sha256": "ab" * 32,
            "inputs": json.dumps(READING), "reading_timestamp": "", "batch_id": None,
            "score": 0.1 + (i % 97) / 50, "threshold": 1.5, "anomaly": i % 97 > 70,
            "top_sensors": "Current;Voltage", "latency_ms": 2.5, "app_version": "0.1.0",
            "shadow_version": None, "shadow_score": None, "shadow_anomaly": None}


def per_row_us(seconds, rows):
    return round(1e6 * seconds / rows, 1)


def audit_rows_cost(workdir, url):
    rows = []
    sinks = (("CSV day file", CsvAuditSink(os.path.join(workdir, "audit"))),
             ("PostgreSQL", DatabaseAuditSink(url)))
    for name, sink in sinks:
        started = time.perf_counter()
        for i in range(SINGLE_WRITES):
            sink.write([audit_row(i)])
        single = time.perf_counter() - started
        batch = [audit_row(i) for i in range(BATCH_ROWS)]
        started = time.perf_counter()
        sink.write(batch)
        chunk = time.perf_counter() - started
        rows += [
            {"case": f"audit row, one per write ({name})", "figure": "per row",
             "value": per_row_us(single, SINGLE_WRITES), "unit": "us",
             "note": f"{SINGLE_WRITES} writes of 1 row (an API request's audit)"},
            {"case": f"audit rows, {BATCH_ROWS} in one write ({name})", "figure": "per row",
             "value": per_row_us(chunk, BATCH_ROWS), "unit": "us",
             "note": "a batch chunk" + (" (COPY)" if name == "PostgreSQL" else "")},
        ]
    return rows


def record_rows_cost(workdir, url):
    """One rejection row per write (a refused API request), one feedback row per write (a
    verdict), and the open-alarm count the menu asks on every page, in each store."""
    rows = []
    error = FieldError(0, "Current", "not_a_number", "not a number")
    stores = (("CSV file", Logs(os.path.join(workdir, "record-logs"))),
              ("PostgreSQL", Logs(workdir, url)))
    for name, logs in stores:
        started = time.perf_counter()
        for i in range(RECORD_WRITES):
            assert record_rejections(logs, "api", "apikey:bench", "pump-1", [error], f"r{i}") == 1
        rejected = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(RECORD_WRITES):
            record_feedback(logs, "operator", "false_alarm", "valve serviced", request_id=f"r{i}",
                            reading=1, asset="pump-1", model_version="v1")
        judged = time.perf_counter() - started
        AlarmLog(logs, "bench").append([{"event": "open", "alarm_id": "bench-1", "asset": "pump-1",
                                         "logged_at": "2026-03-04T10:00:00.000Z"}])
        started = time.perf_counter()
        for _ in range(RECORD_WRITES):
            open_alarm_count(logs)
        counted = time.perf_counter() - started
        note = f"{RECORD_WRITES} writes of 1 row"
        rows += [
            {"case": f"rejection row, one per write ({name})", "figure": "per row",
             "value": per_row_us(rejected, RECORD_WRITES), "unit": "us", "note": note},
            {"case": f"feedback row, one per write ({name})", "figure": "per row",
             "value": per_row_us(judged, RECORD_WRITES), "unit": "us", "note": note},
            {"case": f"open-alarm count of the menu, unchanged log ({name})", "figure": "per page",
             "value": per_row_us(counted, RECORD_WRITES), "unit": "us",
             "note": "a stat of alarms.csv, or one count of the alarm_events table"},
        ]
    return rows


def million_rows(url, workdir, rows=MILLION):
    """Load `rows` audit rows over 28 days, then time the SQL summaries and /monitoring's report:
    a worker's first and next look, then the first look of a fresh worker (another process)."""
    sink = DatabaseAuditSink(url)
    chunk = min(50_000, rows)
    started = time.perf_counter()
    for start in range(0, rows, chunk):
        day = f"2026-02-{1 + start * 28 // rows:02d}"
        sink.write([audit_row(i, day) for i in range(start, min(start + chunk, rows))])
    loaded = time.perf_counter() - started
    summary = (sa.select(sa.func.substr(audit.c.timestamp_utc, 1, 10).label("day"),
                         audit.c.model_version, sa.func.count(),
                         sa.func.sum(sa.case((audit.c.anomaly == "1", 1), else_=0)),
                         sa.func.avg(sa.cast(audit.c.score, sa.Float)))
               .group_by("day", audit.c.model_version))
    one_day = sa.select(sa.func.count()).where(audit.c.timestamp_utc >= "2026-02-14",
                                               audit.c.timestamp_utc < "2026-02-15")
    with database.engine(url).connect() as connection:
        connection.exec_driver_sql("ANALYZE audit")
        timings = {}
        for name, query in (("summary", summary), ("one day", one_day)):
            started = time.perf_counter()
            connection.execute(query).all()
            timings[name] = time.perf_counter() - started
    timings.update(monitoring_looks(sink, workdir, rows))
    label = f"{rows:,}"
    return [
        {"case": f"monitoring report over {label} audit rows in PostgreSQL, first look",
         "figure": "time", "value": round(timings["first"], 1), "unit": "s",
         "note": "28 days: each closed day summarised from the table once for every worker"},
        {"case": f"monitoring report over {label} audit rows in PostgreSQL, next look",
         "figure": "time", "value": round(1000 * timings["second"]), "unit": "ms",
         "note": "closed days from this process's memory"},
        {"case": f"monitoring report over {label} audit rows, a fresh worker's first look",
         "figure": "time", "value": round(timings["fresh"], 2), "unit": "s",
         "note": "another worker (or instance) already looked"},
        {"case": f"{label} audit rows into PostgreSQL (COPY, 50k per write)", "figure": "rows/s",
         "value": round(rows / loaded), "unit": "rows/s", "note": f"{loaded:.1f} s"},
        {"case": f"SQL summary of {label} audit rows (day x version)", "figure": "time",
         "value": round(1000 * timings["summary"]), "unit": "ms",
         "note": "count, anomalies, mean score, in SQL alone"},
        {"case": f"count one day among {label} audit rows (index)", "figure": "time",
         "value": round(1000 * timings["one day"], 1), "unit": "ms", "note": "what export reads"},
    ]


def monitoring_looks(sink, workdir, rows):
    """Seconds of report_for over the 28 days: first and next look of one worker, then the
    first look of a fresh worker (new sources: nothing in its memory)."""
    registry = ModelRegistry(os.path.join(workdir, "model_store"))
    timings = {}
    sources = MonitoringSources(os.path.join(workdir, "monitoring"), registry, audit_store=sink)
    for look in ("first", "second", "fresh"):
        if look == "fresh":
            sources = MonitoringSources(os.path.join(workdir, "monitoring-2"), registry,
                                        audit_store=sink)
        started = time.perf_counter()
        report = report_for(sources, None, "dates", "2026-02-01", "2026-02-28")
        timings[look] = time.perf_counter() - started
        assert report["model"]["readings"] == rows, report["model"]["readings"]
    return timings


def through_nginx(workdir, url, key, instances):
    store = os.path.join(workdir, "model_store")
    processes = []
    body = json.dumps({"asset": "pump-1", "readings": [READING]}).encode()
    try:
        for number in range(instances):
            folder = os.path.join(workdir, f"n{instances}-{number}")
            paths = {"MODEL_STORE": store, "DATABASE_URL": url,
                     "LOG_DIR": os.path.join(folder, "logs"),
                     "INSTANCE_DIR": os.path.join(folder, "instance")}
            processes.append(start_gunicorn(paths, WORKERS, {"VIGIE_SECRET_KEY": "bench",
                                                             "VIGIE_TRUSTED_PROXIES": "1"}))
        with nginx_proxy([int(u.rsplit(":", 1)[1]) for u, _ in processes]) as running:
            proxy = running.url
            port = int(proxy.rsplit(":", 1)[1])
            load(port, key, body, 100, CLIENTS)  # warm-up: workers load the model
            durations, failures, seconds = load(port, key, body, HTTP_REQUESTS, CLIENTS)
    finally:
        for _, process in processes:
            stop(process)
    return {"case": f"POST /predict through nginx, {instances} instance(s) x {WORKERS} workers",
            "figure": "requests/s", "value": round(len(durations) / seconds, 1),
            "unit": "req/s", "note": f"p50 {quantile_ms(durations, 0.5)} ms, p95 "
            f"{quantile_ms(durations, 0.95)} ms, {len(failures)} failed, {CLIENTS} clients, "
            "PostgreSQL store"}


def direct_sqlite(workdir, key_maker):
    paths = {"MODEL_STORE": os.path.join(workdir, "model_store"),
             "LOG_DIR": os.path.join(workdir, "single", "logs"),
             "INSTANCE_DIR": os.path.join(workdir, "single", "instance")}
    body = json.dumps({"asset": "pump-1", "readings": [READING]}).encode()
    key = key_maker(os.path.join(paths["INSTANCE_DIR"], "vigie.db"))
    with gunicorn_server(paths, workers=WORKERS) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        load(port, key, body, 100, CLIENTS)
        durations, failures, seconds = load(port, key, body, HTTP_REQUESTS, CLIENTS)
    return {"case": f"POST /predict direct, 1 instance x {WORKERS} workers (SQLite + CSV)",
            "figure": "requests/s", "value": round(len(durations) / seconds, 1),
            "unit": "req/s", "note": f"p50 {quantile_ms(durations, 0.5)} ms, p95 "
            f"{quantile_ms(durations, 0.95)} ms, {len(failures)} failed (the embedded default)"}


def run(workdir):
    missing = postgres_missing_reason() or nginx_missing_reason()
    if missing:
        print(f"# bench_cluster not run: {missing}")
        return []
    server = PostgresServer(_pg_folder(), free_port())
    server.init()
    server.start(durable=True)  # production settings: each commit waits for its WAL flush
    try:
        url = server.url(server.create_database())
        schema.upgrade(url)
        rows = audit_rows_cost(workdir, url) + record_rows_cost(workdir, url)
        train_version(ModelRegistry(os.path.join(workdir, "model_store")), "pump-1",
                      TRAINING_CSV, created_by="bench")

        def key_maker(target):
            if database.is_sqlite(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
            schema.upgrade(target)
            users.ensure_admin(target, workdir, "bench-admin-password")
            return apikeys.create_key(target, "bench", "operator", "bench")[1]

        key = key_maker(url)
        rows.append(direct_sqlite(workdir, key_maker))
        for instances in (1, 2):
            rows.append(through_nginx(workdir, url, key, instances))
        million_url = server.url(server.create_database())
        schema.upgrade(million_url)
        rows += million_rows(million_url, workdir)
        database.dispose_all()
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
    return rows


def _pg_folder():
    # Under /tmp: the `postgres` user must reach it (see tests/support/postgres.py).
    return tempfile.mkdtemp(prefix="vigie-bench-pg-")


def monitoring_only(rows):
    """`python -m tests.benchmarks.bench_cluster ROWS`: only the audit-table rows and the
    monitoring looks, on a throwaway PostgreSQL (fsync off: the load is not what is timed)."""
    server = PostgresServer(_pg_folder(), free_port())
    server.init()
    server.start()
    workdir = tempfile.mkdtemp(prefix="vigie-bench-monitoring-")
    try:
        url = server.url(server.create_database())
        schema.upgrade(url)
        train_version(ModelRegistry(os.path.join(workdir, "model_store")), "pump-1",
                      TRAINING_CSV, created_by="bench")
        for row in million_rows(url, workdir, rows):
            print(f"{row['case']:<70} {row['value']:>10} {row['unit']:<7} {row['note']}")
        database.dispose_all()
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    import sys
    os.environ.setdefault("VIGIE_MODEL_SIGNING_KEY", "bench-model-signing-key")
    monitoring_only(int(sys.argv[1]) if len(sys.argv) > 1 else MILLION)
