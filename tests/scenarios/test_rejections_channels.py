"""Every channel that refuses readings counts them for monitoring (logs/rejections-*.csv)."""

import csv
import glob
import io
import os

from tests.api.test_predict import key, normal_readings, post  # noqa: F401  (fixture and helpers)
from tests.conftest import NORMAL_CSV
from tests.support.postgres import unreachable_database_url
from webapp.services.audit import CsvAuditSink
from webapp.services.batch.scorer import score_file
from webapp.services.record_log import Logs
from webapp.services.registry import ModelRegistry


def rejection_rows(log_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(log_dir, "rejections-*.csv"))):
        with open(path, newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def test_api_rejections_are_counted_with_the_key_and_request(client, app, key):  # noqa: F811
    readings = normal_readings(3)
    readings[1]["Current"] = "abc"
    readings[2]["Voltage"] = 9999
    response = post(client, {"asset": "pump-1", "readings": readings}, key)
    assert response.status_code == 422
    rows = rejection_rows(app.config["LOG_DIR"])
    assert [(r["channel"], r["reading"], r["field"]) for r in rows] == [
        ("api", "1", "Current"), ("api", "2", "Voltage")]
    assert {r["principal"] for r in rows} == {"apikey:gateway-1"}
    assert {r["request_id"] for r in rows} == {response.json["request_id"]}


def test_with_the_database_away_the_api_still_lists_the_values_to_fix(client, app, key,  # noqa: F811
                                                                      monkeypatch, caplog):
    monkeypatch.setitem(app.extensions, "vigie.logs",
                        Logs(app.config["LOG_DIR"], unreachable_database_url()))
    readings = normal_readings(2)
    readings[1]["Current"] = "abc"
    response = post(client, {"asset": "pump-1", "readings": readings}, key)
    assert response.status_code == 422 and "Current" in response.get_data(as_text=True)
    assert "could not record 1 rejected values" in caplog.text  # counting, not the audit


def test_batch_rejections_are_counted_with_their_file_line(paths, tmp_path):
    loaded = ModelRegistry(paths["MODEL_STORE"]).load_active("pump-1")
    with open(NORMAL_CSV, encoding="utf-8") as handle:
        lines = handle.read().splitlines()[:11]
    lines[4] = lines[4].replace(lines[4].split(";")[3], "x", 1)
    score_file(io.BytesIO("\n".join(lines).encode()), loaded,
               CsvAuditSink(str(tmp_path / "audit")), batch_id="b1", channel="batch",
               principal="operator", results_path=str(tmp_path / "r.csv"),
               errors_path=str(tmp_path / "e.csv"), rejections_dir=paths["LOG_DIR"])
    rows = rejection_rows(paths["LOG_DIR"])
    assert [(r["channel"], r["reading"], r["field"], r["request_id"]) for r in rows] == [
        ("batch", "5", "Current", "b1")]


def test_stream_rejections_are_counted_with_their_file_line(paths, tmp_path):
    from tests.services.stream.test_follower import (HEADER, append, drain, make_follower,
                                                     normal_lines)
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(4)
    lines[2] = lines[2].replace(lines[2].split(";")[3], "broken", 1)
    append(sensor_file, HEADER + "".join(lines))
    follower = make_follower(paths, sensor_file)
    drain(follower)
    rows = rejection_rows(paths["LOG_DIR"])
    assert [(r["channel"], r["reading"], r["field"]) for r in rows] == [
        ("stream", "4", "Current")]
    assert rows[0]["principal"] == "stream:tests"


def test_alarms_page_links_each_alarm_to_its_feedback_form(client, login, paths):
    from tests.services.test_alarms import write_alarm
    write_alarm(paths["LOG_DIR"], "pump-1-abc-17", "pump-1", "2026-01-01T10:00:00.000Z")
    login("operator")
    page = client.get("/alarms").get_data(as_text=True)
    assert 'href="/history/alarm/pump-1-abc-17"' in page
    assert client.get("/history/alarm/pump-1-abc-17").status_code == 200
