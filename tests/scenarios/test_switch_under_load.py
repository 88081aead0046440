"""Switching versions under load: 3 gunicorn workers, client processes, no failed or mixed request.

Client processes send 5-reading sequences to POST /api/v1/predict for about ten seconds while
the test activates versions through POST /api/v1/models/active and rolls back through the
lifecycle service (as the CLI does). Every answer and every audit row must name one real
version, the same one, and requests sent after a switch must use the new version.
"""

import collections
import csv
import glob
import json
import multiprocessing
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import NORMAL_CSV, PASSWORDS
from tests.support.servers import gunicorn_server
from webapp.services.audit import AUDIT_COLUMNS
from webapp.services.lifecycle import ModelLifecycle
from webapp.services.registry import ModelRegistry
from webapp.services.training import load_training_frame, train_version

WORKERS = 3
CLIENT_PROCESSES = 3
THREADS_PER_PROCESS = 2
READINGS_PER_REQUEST = 5
SWITCH_EVERY = 1.5  # seconds between switches
SWITCHES = (("activate", "v2"), ("activate", "v3"), ("rollback", "v2"), ("activate", "v1"),
            ("activate", "v3"), ("rollback", "v1"))
LOAD_SECONDS = SWITCH_EVERY * (len(SWITCHES) + 1)
GRACE = 1.0  # the bound: a switch reaches every worker within one second


def request_bodies(count=300):
    """JSON bodies of consecutive normal readings, READINGS_PER_REQUEST each."""
    frame = load_training_frame(NORMAL_CSV)
    return [json.dumps({"asset": "pump-1", "readings": frame.iloc[
        offset:offset + READINGS_PER_REQUEST].to_dict("records")}).encode()
        for offset in range(count)]


def post_json(url, body, key, timeout=15):
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-API-Key": key})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def client_process(url, key, stop_at, out_path, seed):
    """Send predictions from a few threads until `stop_at` (monotonic); write what was seen."""
    seen, lock, bodies = [], threading.Lock(), request_bodies()

    def loop(thread_index):
        count = 0
        while time.monotonic() < stop_at:
            body = bodies[(seed * 37 + thread_index * 11 + count) % len(bodies)]
            count += 1
            sent = time.monotonic()
            try:
                status, answer = post_json(url + "/api/v1/predict", body, key)
                record = {"sent": sent, "received": time.monotonic(), "status": status,
                          "request_id": answer.get("request_id"),
                          "model_version": answer.get("model_version"),
                          "results": len(answer.get("results", []))}
            except urllib.error.HTTPError as exc:
                record = {"sent": sent, "status": exc.code, "error": exc.read().decode()[:300]}
            except (OSError, ValueError) as exc:
                record = {"sent": sent, "status": None, "error": repr(exc)}
            with lock:
                seen.append(record)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(THREADS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(out_path, "w") as handle:
        json.dump(seen, handle)


@pytest.fixture
def served(paths):
    """pump-1 v1 (active), v2 and v3 with different thresholds; an operator and an admin key."""
    registry = ModelRegistry(paths["MODEL_STORE"])
    for rows in (250, 120):
        train_version(registry, "pump-1", NORMAL_CSV, rows, created_by="tests")
    with gunicorn_server(paths, workers=WORKERS,
                         extra_env={"VIGIE_ADMIN_PASSWORD": PASSWORDS["admin"]}) as (url, proc):
        from webapp.services import apikeys
        database = os.path.join(paths["INSTANCE_DIR"], "vigie.db")
        keys = {role: apikeys.create_key(database, f"load-{role}", role, "tests")[1]
                for role in ("operator", "admin")}
        yield {"url": url, "process": proc, "keys": keys, "registry": registry, **paths}


def switch(served, action, version):
    """Run one switch; returns (started, done) monotonic times."""
    started = time.monotonic()
    if action == "activate":
        body = json.dumps({"asset": "pump-1", "version": version,
                           "reason": "switch under load"}).encode()
        status, answer = post_json(served["url"] + "/api/v1/models/active", body,
                                   served["keys"]["admin"])
        assert status == 200 and answer["version"] == version, answer
    else:
        life = ModelLifecycle(served["registry"], served["LOG_DIR"])
        assert life.rollback("pump-1", "cli:tests", "switch under load")[1] == version
    return started, time.monotonic()


def audit_by_request(log_dir):
    rows = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(log_dir, "audit", "predictions-*.csv"))):
        with open(path, newline="", encoding="utf-8") as handle:
            content = handle.read()
        assert content.endswith("\n"), "an audit file ends with a partial line"
        reader = csv.DictReader(content.splitlines())
        assert tuple(reader.fieldnames) == AUDIT_COLUMNS
        for row in reader:
            rows[row["request_id"]].append(row)
    return rows


def worker_pids(master_pid):
    output = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True)
    return output.stdout.split()


def test_switches_under_load_fail_no_request_and_mix_no_version(served, tmp_path):
    assert len(worker_pids(served["process"].pid)) == WORKERS
    stop_at = time.monotonic() + LOAD_SECONDS
    outputs = [str(tmp_path / f"client-{i}.json") for i in range(CLIENT_PROCESSES)]
    clients = [multiprocessing.Process(target=client_process, args=(
        served["url"], served["keys"]["operator"], stop_at, out, i))
        for i, out in enumerate(outputs)]
    for process in clients:
        process.start()
    switches = []
    for action, version in SWITCHES:
        time.sleep(SWITCH_EVERY)
        switches.append((*switch(served, action, version), version))
    for process in clients:
        process.join(LOAD_SECONDS + 60)
        assert process.exitcode == 0
    seen = [record for out in outputs for record in json.load(open(out))]

    failed = [r for r in seen if r["status"] != 200]
    assert failed == [], failed[:5]
    assert len(seen) > 50, "the load was too light to prove anything"

    # Each request is scored entirely by one real version, and its audit rows say which.
    manifests = {v: served["registry"].manifest("pump-1", v) for v in ("v1", "v2", "v3")}
    audited = audit_by_request(served["LOG_DIR"])
    assert set(audited) == {r["request_id"] for r in seen}
    for record in seen:
        rows = audited[record["request_id"]]
        assert len(rows) == READINGS_PER_REQUEST == record["results"]
        assert {row["model_version"] for row in rows} == {record["model_version"]}
        assert {row["model_sha256"] for row in rows} == {
            manifests[record["model_version"]]["model_sha256"]}
        assert {float(row["threshold"]) for row in rows} == {
            round(manifests[record["model_version"]]["threshold"], 6)}

    # After each switch, requests sent a second later (and ended before the next switch) use
    # the new version; stale_lag measures how late an old version was still seen.
    stale_lag = 0.0
    bounds = [start for start, _, _ in switches[1:]] + [float("inf")]
    for (_, done, version), next_start in zip(switches, bounds, strict=True):
        window = [r for r in seen if done < r["sent"] and r["received"] < next_start]
        assert window, "no request fell between two switches"
        old = [r for r in window if r["model_version"] != version]
        assert [r for r in old if r["sent"] > done + GRACE] == []
        stale_lag = max([stale_lag] + [r["sent"] - done for r in old])

    events = ModelLifecycle(served["registry"], served["LOG_DIR"]).events("pump-1")
    assert [(e["action"], e["to_version"]) for e in events] == list(SWITCHES)
    assert events[0]["principal"] == "apikey:load-admin"
    used = collections.Counter(r["model_version"] for r in seen)
    assert set(used) == {"v1", "v2", "v3"}
    print(f"\nswitch under load: {len(seen)} requests ({len(seen) * READINGS_PER_REQUEST} "
          f"readings) in {LOAD_SECONDS:.1f} s, {CLIENT_PROCESSES}x{THREADS_PER_PROCESS} clients, "
          f"{WORKERS} workers, {len(SWITCHES)} switches, 0 failed, 0 mixed; old version seen "
          f"at most {stale_lag * 1000:.0f} ms after a switch completed; versions {dict(used)}")
