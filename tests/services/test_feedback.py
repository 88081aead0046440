"""Feedback from the floor: the CSV rows, the forms, the history and the labelled readings."""

import csv
import json
import os

import numpy as np
import pytest

from tests.conftest import NORMAL_CSV, csrf_token
from tests.support.monitoring_fixtures import normal_pool, synthetic_rows, write_audit_day
from webapp.services.alarms import ALARM_COLUMNS
from webapp.services.feedback import (FeedbackError, feedback_by_alarm, feedback_by_reading,
                                      feedback_path, labelled_readings, read_feedback,
                                      record_feedback)
from webapp.services.storage import append_csv


@pytest.fixture(scope="module")
def pool():
    return normal_pool(NORMAL_CSV)


@pytest.fixture
def flagged(app, pool):
    """One request of the operator with three readings, the second one flagged."""
    rows = synthetic_rows("2026-03-05", 3, pool, 1.0, np.random.default_rng(2),
                          principals=("operator",), anomaly_rate=0.0)
    for row in rows:
        row["request_id"] = "req-1"
    rows[1].update(anomaly=True, score=3.5)
    write_audit_day(app.config["AUDIT_DIR"], "2026-03-05", rows)
    return rows


def test_feedback_reads_back_by_reading_and_by_alarm_from_either_store(record_logs):
    record_feedback(record_logs, "operator", "confirmed_fault", "=cmd", request_id="req-1",
                    reading=2, asset="pump-1", model_version="v1")
    record_feedback(record_logs, "analyst", "false_alarm", request_id="req-1", reading=2)
    record_feedback(record_logs, "operator", "unsure", "checked", alarm_id="s1:1:42")
    by_reading = feedback_by_reading(record_logs)
    assert list(by_reading) == [("req-1", "2")]
    assert [r["verdict"] for r in by_reading[("req-1", "2")]] == ["confirmed_fault",
                                                                  "false_alarm"]
    assert by_reading[("req-1", "2")][0]["comment"] == "'=cmd"
    assert [r["comment"] for r in feedback_by_alarm(record_logs)["s1:1:42"]] == ["checked"]


def test_a_feedback_row_has_the_issue_columns(tmp_path):
    record_feedback(str(tmp_path), "operator", "confirmed_fault", "=cmd|' /C calc'!A0",
                    request_id="req-1", reading=2, asset="pump-1", model_version="v1")
    with open(feedback_path(str(tmp_path)), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["principal"] == "operator" and rows[0]["verdict"] == "confirmed_fault"
    assert rows[0]["request_id"] == "req-1" and rows[0]["timestamp_utc"].endswith("Z")
    assert rows[0]["comment"].startswith("'=")  # a spreadsheet shows it as text


@pytest.mark.parametrize("kwargs, message", [
    ({"verdict": "maybe", "request_id": "r"}, "verdict must be one of"),
    ({"verdict": "unsure"}, "either a request id"),
    ({"verdict": "unsure", "request_id": "r", "alarm_id": "a"}, "either a request id"),
    ({"verdict": "unsure", "request_id": "r", "comment": "x" * 501}, "keep it under")])
def test_bad_feedback_is_refused_with_the_reason(tmp_path, kwargs, message):
    verdict = kwargs.pop("verdict")
    with pytest.raises(FeedbackError, match=message):
        record_feedback(str(tmp_path), "operator", verdict, **kwargs)
    assert read_feedback(str(tmp_path)) == []


def post_feedback(client, path, **data):
    """Post feedback with the session's CSRF token (taken from the predict form: a request
    page shows a feedback form only for the reading being judged)."""
    return client.post(path, data={"csrf_token": csrf_token(client, "/"), **data})


def test_operator_records_feedback_on_a_flagged_reading(app, client, login, flagged):
    login("operator")
    response = post_feedback(client, "/history/req-1", reading="2", verdict="false_alarm",
                             comment="valve was being serviced")
    assert response.status_code == 302
    rows = read_feedback(app.config["LOG_DIR"])
    assert [(r["request_id"], r["reading"], r["verdict"], r["model_version"], r["asset"])
            for r in rows] == [("req-1", "2", "false_alarm", "v1", "pump-1")]
    page = client.get("/history/req-1").get_data(as_text=True)
    assert "valve was being serviced" in page
    listing = client.get("/history").get_data(as_text=True)
    assert "false alarm" in listing or "fausse alarme" in listing


def test_feedback_on_a_normal_reading_is_refused(app, client, login, flagged):
    login("operator")
    post_feedback(client, "/history/req-1", reading="1", verdict="confirmed_fault")
    assert read_feedback(app.config["LOG_DIR"]) == []


def test_feedback_without_verdict_is_a_400(app, client, login, flagged):
    login("operator")
    response = post_feedback(client, "/history/req-1", reading="2", verdict="")
    assert response.status_code == 400
    assert read_feedback(app.config["LOG_DIR"]) == []


def test_feedback_on_an_alarm(app, client, login):
    event = {"event": "open", "alarm_id": "stream-a:0:12", "asset": "pump-1",
             "opened_at": "2026-03-05T10:00:00.000Z", "peak_score": 4.0,
             "top_sensors": "Current", "model_version": "v1", "source": "stream-a"}
    append_csv(os.path.join(app.config["LOG_DIR"], "alarms.csv"), [event], ALARM_COLUMNS)
    login("operator")
    response = post_feedback(client, "/history/alarm/stream-a:0:12", verdict="confirmed_fault",
                             comment="bearing worn")
    assert response.status_code == 302
    row = read_feedback(app.config["LOG_DIR"])[0]
    assert (row["alarm_id"], row["model_version"], row["request_id"]) == \
        ("stream-a:0:12", "v1", "")
    assert client.get("/history/alarm/unknown").status_code == 404


def test_labelled_readings_for_candidate_evaluation(app, flagged):
    log_dir = app.config["LOG_DIR"]
    record_feedback(log_dir, "operator", "confirmed_fault", request_id="req-1", reading=2,
                    asset="pump-1", model_version="v1", prediction_time="2026-03-05T00:00:01Z")
    record_feedback(log_dir, "operator", "unsure", request_id="req-1", reading=3,
                    asset="pump-1", model_version="v1")
    frame = labelled_readings(log_dir, app.config["AUDIT_DIR"], asset="pump-1")
    assert len(frame) == 1 and frame.loc[0, "anomaly"] == 1
    assert frame.loc[0, "Current"] == json.loads(flagged[1]["inputs"])["Current"]
    record_feedback(log_dir, "analyst", "false_alarm", request_id="req-1", reading=2,
                    asset="pump-1", model_version="v1")
    assert labelled_readings(log_dir, app.config["AUDIT_DIR"]).loc[0, "anomaly"] == 0


def test_a_batch_record_can_list_only_its_flagged_readings(app, client, login, flagged):
    login("operator")
    page = client.get("/history/req-1?flagged=1").get_data(as_text=True)
    assert 'id="r2"' in page and 'id="r1"' not in page and 'id="r3"' not in page
    assert 'id="only-flagged"' in client.get("/history/req-1").get_data(as_text=True)


def test_a_comment_with_a_control_character_is_refused_in_french(app, client, login, flagged):
    login("operator")
    response = post_feedback(client, "/history/req-1", reading="2", verdict="false_alarm",
                             comment="valve\x01serviced")
    assert response.status_code == 302 and read_feedback(app.config["LOG_DIR"]) == []
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "le commentaire contient un caractère de contrôle (\\x01)" in page
    assert "control character" not in page
