"""The audit log: complete rows, formula-safe cells, and safe appends from many processes."""

import csv
import multiprocessing
import os

import pytest

from webapp.services.audit import AUDIT_COLUMNS, AuditError, CsvAuditSink
from webapp.services.storage import neutralise_formula


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def make_row(writer, index):
    return {"timestamp_utc": "2026-03-01T10:00:00.000Z", "request_id": f"{writer}-{index}",
            "channel": "api", "principal": f"apikey:w{writer}", "asset": "pump-1",
            "model_version": "v1", "inputs": '{"Current":1.0}' + "x" * 500, "score": 0.5,
            "threshold": 1.0, "anomaly": False}


def append_many(directory, writer, count, per_write):
    sink = CsvAuditSink(directory)
    for start in range(0, count, per_write):
        sink.write([make_row(writer, i) for i in range(start, min(start + per_write, count))])


def test_rows_land_in_the_file_of_their_utc_day(tmp_path):
    sink = CsvAuditSink(str(tmp_path))
    sink.write([make_row(0, 0), {**make_row(0, 1), "timestamp_utc": "2026-03-02T00:00:01Z"}])
    assert read_rows(sink.path_for("2026-03-01"))[0]["request_id"] == "0-0"
    assert read_rows(sink.path_for("2026-03-02"))[0]["request_id"] == "0-1"
    with open(sink.path_for("2026-03-01")) as handle:
        assert handle.readline().strip() == ",".join(AUDIT_COLUMNS)


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx"])
def test_formula_cells_are_neutralised(tmp_path, text):
    sink = CsvAuditSink(str(tmp_path))
    sink.write([{**make_row(0, 0), "principal": text}])
    assert read_rows(sink.path_for("2026-03-01"))[0]["principal"] == "'" + text
    assert neutralise_formula("plain") == "plain"


def run_appenders(directory, writers, count):
    """`writers` processes append `count` rows each at once, in writes of 1 to 3 rows."""
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=append_many, args=(str(directory), w, count, 1 + w % 3))
                 for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0


def test_several_processes_appending_at_once_lose_and_corrupt_nothing(tmp_path):
    writers, count = 6, 400
    run_appenders(tmp_path, writers, count)
    path = os.path.join(str(tmp_path), "predictions-2026-03-01.csv")
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    assert lines[0] == ",".join(AUDIT_COLUMNS)
    assert lines[-1] == ""
    rows = read_rows(path)
    assert len(rows) == writers * count
    assert {row["request_id"] for row in rows} == {f"{w}-{i}" for w in range(writers)
                                                  for i in range(count)}
    assert all(len(row) == len(AUDIT_COLUMNS) and None not in row for row in rows)


def test_unwritable_folder_raises_audit_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AuditError):
        CsvAuditSink(str(blocker / "audit")).write([make_row(0, 0)])
