"""Record logs on both stores: the same rows back, filters by day and field, a database away."""

import logging

import pytest

from features.validation import FieldError
from tests.support.postgres import unreachable_database_url
from webapp.services import database
from webapp.services.record_log import Logs, RecordKind, stored_csv
from webapp.services.rejections import REJECTIONS, record_rejections

SINGLE = RecordKind("feedback", ("timestamp_utc", "principal", "request_id", "reading",
                                 "alarm_id", "verdict", "comment", "asset", "model_version",
                                 "prediction_time"), "feedback.csv")


def rejection(day, second, **cells):
    return {"timestamp_utc": f"{day}T10:00:{second:02d}.000Z", "request_id": f"r-{second}",
            "channel": "api", "principal": "apikey:gw", "asset": "pump-1", "reading": second,
            "field": "Current", "code": "not_a_number", "message": "x", **cells}


def test_rows_come_back_as_the_cells_a_csv_file_holds(record_logs):
    log = record_logs.log(REJECTIONS)
    assert log.rows() == [] and log.days() == [] and log.marker() is None
    log.append([rejection("2026-03-04", 1, message="=HYPERLINK(1)", reading=None),
                rejection("2026-03-04", 2, message="a, \"quoted\"\nline", reading=2.5),
                rejection("2026-03-05", 3, field=True)])
    rows = log.rows()
    assert [row["request_id"] for row in rows] == ["r-1", "r-2", "r-3"]  # write order
    assert rows[0]["message"] == "'=HYPERLINK(1)" and rows[0]["reading"] == ""
    assert rows[1]["message"] == "a, \"quoted\"\nline" and rows[1]["reading"] == "2.5"
    assert rows[2]["field"] == "1"
    assert log.days() == ["2026-03-04", "2026-03-05"]
    assert [r["request_id"] for r in log.rows(date_from="2026-03-05")] == ["r-3"]
    assert [r["request_id"] for r in log.rows(date_to="2026-03-04")] == ["r-1", "r-2"]
    assert [r["request_id"] for r in log.rows(exact={"message": "=HYPERLINK(1)"})] == ["r-1"]


def test_a_write_changes_the_marker(record_logs):
    log = record_logs.log(SINGLE)
    log.append([{"timestamp_utc": "2026-03-04T10:00:00.000Z", "verdict": "unsure"}])
    before = log.marker()
    log.append([{"timestamp_utc": "2026-03-04T10:00:01.000Z", "verdict": "unsure"}])
    assert before is not None and log.marker() != before
    assert [row["verdict"] for row in log.rows()] == ["unsure", "unsure"]


def test_both_stores_read_back_the_same_rows(tmp_path, postgres_server, postgres_template):
    url = postgres_server.url(postgres_server.create_database(postgres_template))
    written = [rejection("2026-03-04", i, message=f"-{i}", reading=i / 3) for i in range(5)]
    files, table = Logs(tmp_path).log(REJECTIONS), Logs(tmp_path, url).log(REJECTIONS)
    for log in (files, table):
        log.append([dict(row) for row in written])
    assert files.rows() == table.rows()
    # The table's rows, written out, are the day file's bytes.
    with open(files.path("2026-03-04"), encoding="utf-8", newline="") as handle:
        assert stored_csv(REJECTIONS.columns, table.rows()) == handle.read()


def test_a_database_that_went_away_raises_unavailable_quickly(tmp_path):
    log = Logs(tmp_path, unreachable_database_url()).log(SINGLE)
    for call in (log.rows, log.marker, lambda: log.append([{"verdict": "unsure"}])):
        with pytest.raises(database.UNAVAILABLE):
            call()


def test_rejections_are_counted_not_audited_a_failure_is_logged(tmp_path, caplog):
    logs = Logs(tmp_path, unreachable_database_url())
    error = FieldError(0, "Current", "not_a_number", "not a number")
    with caplog.at_level(logging.ERROR, "vigie.rejections"):
        assert record_rejections(logs, "api", "apikey:gw", "pump-1", [error]) == 0
    assert "could not record 1 rejected values" in caplog.text


def test_a_folder_path_stands_for_its_csv_files(tmp_path):
    error = FieldError(3, "Current", "not_a_number", "not a number")
    assert record_rejections(str(tmp_path), "form", "alice", "pump-1", [error]) == 1
    rows = Logs(tmp_path).log(REJECTIONS).rows()
    assert [(r["principal"], r["reading"], r["field"]) for r in rows] == [("alice", "3", "Current")]
    assert not Logs(tmp_path, str(tmp_path / "vigie.db")).shared  # SQLite keeps the files
