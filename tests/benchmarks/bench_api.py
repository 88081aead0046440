"""One reading scored in-process against one reading through POST /api/v1/predict on gunicorn.

Both with the audit log on. The server is the project's gunicorn configuration on 127.0.0.1 and
a free port, with a temporary store, logs and instance, and is stopped at the end.
"""

import csv
import glob
import http.client
import json
import os
import threading
import time

import numpy as np
import pandas as pd

from features.schema import SENSOR_COLUMNS
from tests.support.servers import gunicorn_server
from webapp import create_app
from webapp.services import apikeys
from webapp.services.registry import ModelRegistry
from webapp.services.scoring import predict_and_audit
from webapp.services.training import train_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINING_CSV = os.path.join(ROOT, "data", "anomaly-free.csv")
IN_PROCESS_CALLS = 2000
HTTP_REQUESTS = 2000
CLIENT_THREADS = 4
WORKERS = 2
SEQUENCE_LENGTH = 1000
SEQUENCE_REQUESTS = 20


def quantile_ms(seconds, q):
    return round(1000 * float(np.quantile(seconds, q)), 3)


def prepare(workdir):
    """Store with pump-1 trained on anomaly-free.csv, an API key; returns (paths, key, frame)."""
    paths = {name: os.path.join(workdir, folder) for name, folder in (
        ("MODEL_STORE", "model_store"), ("LOG_DIR", "logs"), ("INSTANCE_DIR", "instance"))}
    train_version(ModelRegistry(paths["MODEL_STORE"]), "pump-1", TRAINING_CSV,
                  created_by="bench")
    app = create_app({**paths, "ADMIN_PASSWORD": "bench-admin-password"})
    key = apikeys.create_key(app.config["DATABASE"], "bench", "operator", "bench")[1]
    frame = pd.read_csv(TRAINING_CSV, sep=";")[list(SENSOR_COLUMNS)]
    return app, paths, key, frame


def in_process_rows(app, frame):
    """predict_and_audit on one reading, as the API view calls it, without HTTP."""
    from webapp.extensions import active_models, audit_sink
    one = frame.iloc[[100]].reset_index(drop=True)
    durations = []
    with app.app_context():
        loaded, sink = active_models().get("pump-1"), audit_sink()
        for _ in range(IN_PROCESS_CALLS):
            started = time.perf_counter()
            predict_and_audit(loaded, one, sink, channel="api", principal="apikey:bench")
            durations.append(time.perf_counter() - started)
    case = "one reading in-process (score + audit write)"
    return [
        {"case": case, "figure": "p50 latency", "value": quantile_ms(durations, .5),
         "unit": "ms", "note": f"{IN_PROCESS_CALLS} calls, one thread"},
        {"case": case, "figure": "p99 latency", "value": quantile_ms(durations, .99),
         "unit": "ms", "note": ""},
        {"case": case, "figure": "throughput", "value": round(len(durations) / sum(durations)),
         "unit": "readings/s", "note": ""},
    ]


def post(port, key, body):
    """One POST /api/v1/predict on a new connection; returns (status, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/api/v1/predict", body=body, headers={
            "Content-Type": "application/json", "X-API-Key": key})
        response = connection.getresponse()
        response.read()
        status = response.status
    finally:
        connection.close()
    return status, time.perf_counter() - started


def load(port, key, body, requests, threads):
    """Send `requests` POSTs from `threads` clients; returns (durations, failures, seconds)."""
    durations, failures, lock = [], [], threading.Lock()
    shares = [requests // threads + (i < requests % threads) for i in range(threads)]

    def client(count):
        for _ in range(count):
            status, seconds = post(port, key, body)
            with lock:
                (durations if status == 200 else failures).append(seconds if status == 200
                                                                  else status)
    workers = [threading.Thread(target=client, args=(n,)) for n in shares]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return durations, failures, time.perf_counter() - started


def audited_api_rows(log_dir):
    """How many audit rows the API wrote."""
    count = 0
    for path in glob.glob(os.path.join(log_dir, "audit", "*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            count += sum(row["channel"] == "api" for row in csv.DictReader(handle))
    return count


def readings_body(frame, start, count):
    return json.dumps({"asset": "pump-1", "readings": frame.iloc[start:start + count].to_dict(
        "records")}).encode()


def http_rows(paths, key, frame, before):
    """The same reading through gunicorn, then a 1,000-reading sequence per request."""
    with gunicorn_server(paths, workers=WORKERS) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        one = readings_body(frame, 100, 1)
        load(port, key, one, 40, CLIENT_THREADS)  # warm-up: every worker loads the model
        durations, failures, seconds = load(port, key, one, HTTP_REQUESTS, CLIENT_THREADS)
        sequence, sequence_failures, _ = load(port, key, readings_body(frame, 0, SEQUENCE_LENGTH),
                                              SEQUENCE_REQUESTS, 1)
    audited = audited_api_rows(paths["LOG_DIR"]) - before
    expected = 40 + HTTP_REQUESTS + SEQUENCE_REQUESTS * SEQUENCE_LENGTH
    case = (f"one reading via POST /api/v1/predict, gunicorn {WORKERS} workers, "
            f"{CLIENT_THREADS} clients")
    note = (f"{len(durations)} ok, {len(failures)} failed; audit rows {audited} of "
            f"{expected} expected")
    return [
        {"case": case, "figure": "p50 latency", "value": quantile_ms(durations, .5),
         "unit": "ms", "note": note},
        {"case": case, "figure": "p99 latency", "value": quantile_ms(durations, .99),
         "unit": "ms", "note": "new TCP connection per request"},
        {"case": case, "figure": "throughput", "value": round(len(durations) / seconds),
         "unit": "requests/s", "note": f"{os.cpu_count()} CPUs shared by clients and server"},
        {"case": f"{SEQUENCE_LENGTH} readings in one POST /api/v1/predict, one client",
         "figure": "p50 latency", "value": quantile_ms(sequence, .5), "unit": "ms",
         "note": f"{round(SEQUENCE_LENGTH / float(np.median(sequence)))} readings/s; "
                 f"{len(sequence_failures)} failed"},
    ]


def run(workdir):
    """Rows for tests/benchmarks/run.py: case, figure, value, unit, note."""
    app, paths, key, frame = prepare(workdir)
    rows = in_process_rows(app, frame)
    return rows + http_rows(paths, key, frame, audited_api_rows(paths["LOG_DIR"]))
