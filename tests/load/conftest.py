"""A 4-worker gunicorn on a private store with two versions of pump-1 and an API key."""

import csv
import glob
import http.client
import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest

from tests.conftest import NORMAL_CSV, PASSWORDS
from tests.support.servers import gunicorn_server

READING = {"Accelerometer1RMS": 0.2024, "Accelerometer2RMS": 0.2752, "Current": 2.17,
           "Pressure": 0.3826, "Temperature": 90.65, "Thermocouple": 26.85, "Voltage": 238.85,
           "Volume Flow RateRMS": 122.66}


@pytest.fixture
def load_paths(tmp_path, trained_store):
    paths = {"MODEL_STORE": str(tmp_path / "model_store"), "LOG_DIR": str(tmp_path / "logs"),
             "INSTANCE_DIR": str(tmp_path / "instance")}
    shutil.copytree(trained_store, paths["MODEL_STORE"])
    from webapp.services.registry import ModelRegistry
    from webapp.services.training import train_version
    train_version(ModelRegistry(paths["MODEL_STORE"]), "pump-1", NORMAL_CSV, 250)
    return paths


@pytest.fixture
def api_key(load_paths):
    from webapp import create_app
    from webapp.services import apikeys
    app = create_app({**load_paths, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    _, key = apikeys.create_key(app.config["DATABASE"], "load-gateway", "operator", "tests")
    return key


@pytest.fixture
def server(load_paths, api_key):
    with gunicorn_server(load_paths, workers=4) as (url, process):
        yield {"url": url, "process": process, "key": api_key, **load_paths}


@dataclass
class Outcome:
    """What the clients saw: successful answers by request id, and failures."""

    answers: dict = field(default_factory=dict)
    sent_at: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def predict_once(url, key, timeout=10):
    body = json.dumps({"asset": "pump-1", "readings": [READING]}).encode()
    request = urllib.request.Request(url + "/api/v1/predict", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-API-Key": key})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def run_clients(url, key, clients, seconds, outcome, stop_event=None):
    """`clients` threads send single-reading predictions for `seconds` (bounded)."""
    deadline = time.monotonic() + seconds

    def client():
        while time.monotonic() < deadline and not (stop_event and stop_event.is_set()):
            sent = time.monotonic()
            try:
                status, body = predict_once(url, key)
                with outcome.lock:
                    outcome.answers[body["request_id"]] = body
                    outcome.sent_at[body["request_id"]] = sent
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                with outcome.lock:
                    outcome.failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def audit_rows(log_dir):
    """Every audit row; fails the test if a file does not parse into complete rows."""
    from webapp.services.audit import AUDIT_COLUMNS
    rows = []
    for path in sorted(glob.glob(os.path.join(log_dir, "audit", "predictions-*.csv"))):
        with open(path, newline="", encoding="utf-8") as handle:
            content = handle.read()
        assert content.endswith("\n"), f"{path} ends with a partial line"
        reader = csv.DictReader(content.splitlines())
        assert tuple(reader.fieldnames) == AUDIT_COLUMNS
        for row in reader:
            assert None not in row and all(v is not None for v in row.values()), row
            rows.append(row)
    return rows
