"""Audit readers parse whole CSV records: a quoted line feed in a cell never reads as a row.

The doors refuse such text now (tests/test_strict_text.py); these tests write it straight to
the audit, as an older version or a hand edit could have, and check every reader.
"""

import os

from tests.services.test_audit import make_row
from webapp.services.audit import CsvAuditSink, stream_rows
from webapp.services.audit import request_rows
from webapp.services.history import HistoryFilter, iter_rows, search
from webapp.services.monitoring.daycache import read_new_bytes
from webapp.services.audit_records import records_holding, records_newest_first, split_header

DAY = "2026-03-01"
FORGED_API = "\n2026-03-01T16:06:00.000Z,fapi01,api,apikey:k-admin,pump-1,v1,,,,,9,1,1"
SID = "abc123def4567890"
FORGED_STREAM = (f"\n2026-03-01T16:07:00.000Z,{SID}-s1-1-99999999,stream,stream:x,pump-1,v1,,"
                 f"{{}},,{SID},0.1,1,0,,1,0.1.0")


def write_forgeries(directory):
    sink = CsvAuditSink(str(directory))
    sink.write([make_row(0, 0)])
    sink.write([{**make_row(0, 1), "reading_timestamp": FORGED_API}])
    sink.write([{**make_row(0, 2), "reading_timestamp": FORGED_STREAM, "channel": "batch",
                 "batch_id": "b1"}])
    sink.write([make_row(0, 3)])
    return sink.path_for(DAY)


def test_the_file_does_hold_the_forged_lines(tmp_path):
    with open(write_forgeries(tmp_path), "rb") as handle:
        content = handle.read()
    assert b"\n2026-03-01T16:06:00.000Z,fapi01,api" in content
    columns, body = split_header(content)
    assert [cells[1] for cells in records_newest_first(body)] == ["0-3", "0-2", "0-1", "0-0"]
    assert [cells[1] for cells in records_holding(body, [b"fapi01"])] == ["0-1"]


def test_history_never_lists_a_forged_row(tmp_path):
    write_forgeries(tmp_path)
    rows, _ = search(str(tmp_path), HistoryFilter(principal="apikey:k-admin"))
    assert rows == []
    assert request_rows(str(tmp_path), "fapi01") == []
    every = [row["request_id"] for row in iter_rows(str(tmp_path), HistoryFilter())]
    assert every == ["0-3", "0-2", "0-1", "0-0"]
    oldest_first = iter_rows(str(tmp_path), HistoryFilter(), newest_first=False)
    assert [row["request_id"] for row in oldest_first] == ["0-0", "0-1", "0-2", "0-3"]
    found = request_rows(str(tmp_path), "0-1")
    assert len(found) == 1 and found[0]["reading_timestamp"] == FORGED_API


def test_stream_recovery_never_replays_a_forged_row(tmp_path):
    write_forgeries(tmp_path)
    assert stream_rows(str(tmp_path), SID, DAY) == []


def test_the_monitoring_reader_stops_at_whole_records(tmp_path):
    path = write_forgeries(tmp_path)
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        content = handle.read()
    cut = content.index(b"fapi01")  # a partly written row, its quoted cell still open
    with open(path, "r+b") as handle:
        handle.truncate(cut)
    columns, data, offset = read_new_bytes(path, 0)
    assert b"fapi01" not in data and data.count(b'"') % 2 == 0
    assert offset < size
