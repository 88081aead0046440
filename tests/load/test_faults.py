"""Faults: the audit cannot be written (disk full, folder gone), the active model is corrupted."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.load.conftest import audit_rows, predict_once
from tests.support.servers import ROOT


def predict_status(server):
    try:
        status, body = predict_once(server["url"], server["key"])
        return status, body
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def today_audit_file(log_dir):
    from webapp.services.storage import utc_now_iso
    return os.path.join(log_dir, "audit", f"predictions-{utc_now_iso()[:10]}.csv")


def app_log(server):
    with open(os.path.join(server["LOG_DIR"], "app.log"), encoding="utf-8") as handle:
        return handle.read()


def flask_command(server, *args):
    """Run `flask --app webapp ARGS` on the server's store, logs and instance."""
    env = {**os.environ, "VIGIE_MODEL_STORE": server["MODEL_STORE"],
           "VIGIE_LOG_DIR": server["LOG_DIR"], "VIGIE_INSTANCE_DIR": server["INSTANCE_DIR"]}
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    return subprocess.run([flask, "--app", "webapp", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_disk_full_gives_a_clear_error_and_recovers_without_restart(server):
    assert predict_status(server)[0] == 200
    audit_file = today_audit_file(server["LOG_DIR"])
    os.rename(audit_file, audit_file + ".saved")
    os.symlink("/dev/full", audit_file)  # every write now fails with ENOSPC, as on a full disk
    try:
        status, body = predict_status(server)
        assert status == 503
        assert "audit" in body["error"] and "results" not in body
    finally:
        os.remove(audit_file)
        os.rename(audit_file + ".saved", audit_file)
    assert "audit write failed" in app_log(server) and "No space left" in app_log(server)
    status, body = predict_status(server)
    assert status == 200
    assert body["request_id"] in {row["request_id"] for row in audit_rows(server["LOG_DIR"])}


def test_audit_folder_unusable_gives_503_then_recovers(server):
    audit_dir = os.path.join(server["LOG_DIR"], "audit")
    os.makedirs(audit_dir, exist_ok=True)
    os.rename(audit_dir, audit_dir + ".saved")
    with open(audit_dir, "w") as handle:  # a file where the folder should be
        handle.write("x")
    try:
        assert predict_status(server)[0] == 503
    finally:
        os.remove(audit_dir)
        os.rename(audit_dir + ".saved", audit_dir)
    assert predict_status(server)[0] == 200


def test_corrupted_active_model_is_refused_and_rollback_restores_service(server):
    assert flask_command(server, "models", "activate", "pump-1", "v2",
                         "--reason", "candidate validated").returncode == 0
    assert predict_status(server)[1]["model_version"] == "v2"
    with open(os.path.join(server["MODEL_STORE"], "pump-1", "v2", "model.pkl"), "r+b") as pkl:
        pkl.seek(100)
        pkl.write(b"corrupted")
    with urllib.request.urlopen(server["url"] + "/healthz") as response:
        assert response.status == 200
    try:
        urllib.request.urlopen(server["url"] + "/readyz")
        raise AssertionError("readyz should answer 503")
    except urllib.error.HTTPError as error:
        assert error.code == 503
        assert "does not match its manifest" in json.loads(error.read())["problems"][0]
    status, body = predict_status(server)
    assert status == 503 and "does not match its manifest" in body["error"]
    result = flask_command(server, "models", "rollback", "pump-1", "--reason", "v2 corrupted")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status, body = predict_status(server)
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200 and body["model_version"] == "v1"
    with urllib.request.urlopen(server["url"] + "/readyz") as response:
        assert response.status == 200
