"""Tamper evidence: `flask audit verify` finds the first edited, inserted, deleted or moved row."""

import csv
import json
import os

import pytest

from tests.services.test_audit import make_row, run_appenders
from webapp.services.audit import (AUDIT_COLUMNS, CsvAuditSink, last_verification,
                                   verification_path, verify_audit)
from webapp.services.audit_chain import CHAIN_COLUMN

DAY = "2026-03-01"


def write_rows(directory, count=6):
    sink = CsvAuditSink(str(directory))
    for index in range(count):
        sink.write([make_row(0, index)])
    return sink.path_for(DAY)


def read_lines(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read().splitlines(keepends=True)


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.writelines(lines)


def only_report(tmp_path):
    reports = verify_audit(str(tmp_path), str(tmp_path / "logs"))
    assert len(reports) == 1
    return reports[0]


def test_an_untouched_file_verifies_and_the_hash_is_the_last_column(tmp_path):
    path = write_rows(tmp_path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert AUDIT_COLUMNS[-1] == CHAIN_COLUMN and len(rows) == 6
    assert all(len(row[CHAIN_COLUMN]) == 64 for row in rows)
    report = only_report(tmp_path)
    assert (report.status, report.rows) == ("ok", 6)


def test_an_edited_cell_is_reported_at_its_row(tmp_path):
    path = write_rows(tmp_path)
    lines = read_lines(path)
    lines[3] = lines[3].replace(",0.5,", ",0.1,")
    write_lines(path, lines)
    report = only_report(tmp_path)
    assert (report.status, report.row, report.line, report.kind) == ("broken", 3, 4, "edited")


def test_a_deleted_row_is_reported_where_the_chain_breaks(tmp_path):
    path = write_rows(tmp_path)
    lines = read_lines(path)
    del lines[2]
    write_lines(path, lines)
    report = only_report(tmp_path)
    assert (report.status, report.row, report.kind) == ("broken", 2, "edited")
    assert "deleted" in report.message


def test_an_inserted_row_is_reported_as_inserted(tmp_path):
    path = write_rows(tmp_path)
    lines = read_lines(path)
    lines.insert(3, lines[5])
    write_lines(path, lines)
    report = only_report(tmp_path)
    assert (report.status, report.row, report.kind) == ("broken", 3, "inserted")


def test_two_swapped_rows_are_reported_as_reordered(tmp_path):
    path = write_rows(tmp_path)
    lines = read_lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(path, lines)
    report = only_report(tmp_path)
    assert (report.status, report.row, report.kind) == ("broken", 2, "reordered")


def test_rows_cut_from_the_end_after_a_verification_are_reported(tmp_path):
    path = write_rows(tmp_path)
    assert only_report(tmp_path).status == "ok"
    write_lines(path, read_lines(path)[:-2])
    report = only_report(tmp_path)
    assert (report.status, report.kind) == ("broken", "truncated")


def test_a_recomputed_chain_is_reported_against_the_last_verification(tmp_path):
    path = write_rows(tmp_path)
    assert only_report(tmp_path).status == "ok"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    os.remove(path)
    rows[1]["score"] = "0.01"
    CsvAuditSink(str(tmp_path)).write([{k: v for k, v in row.items() if k != CHAIN_COLUMN}
                                       for row in rows])
    report = only_report(tmp_path)
    assert (report.status, report.kind) == ("broken", "rewritten")


def test_a_file_written_before_the_chain_is_unchained_and_keeps_its_columns(tmp_path):
    old_columns = AUDIT_COLUMNS[:19]
    path = os.path.join(str(tmp_path), f"predictions-{DAY}.csv")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(old_columns)
        writer.writerow(["2026-03-01T09:00:00.000Z", "old"] + [""] * 17)
    CsvAuditSink(str(tmp_path)).write([make_row(0, 0)])
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(old_columns) and all(len(row) == 19 for row in rows)
    report = only_report(tmp_path)
    assert (report.status, report.rows) == ("unchained", 2)


def test_several_processes_appending_at_once_keep_one_chain(tmp_path):
    writers, count = 5, 150
    run_appenders(tmp_path, writers, count)
    report = only_report(tmp_path)
    assert (report.status, report.rows) == ("ok", writers * count)


def test_the_command_exits_1_on_a_break_and_records_the_result(tmp_path, app, runner):
    audit_dir = app.config["AUDIT_DIR"]
    path = write_rows(audit_dir)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok, 6 rows" in result.output
    lines = read_lines(path)
    lines[4] = lines[4].replace("apikey:w0", "apikey:w9")
    write_lines(path, lines)
    result = runner.invoke(args=["audit", "verify", "--date", DAY])
    assert result.exit_code == 1
    assert "BROKEN at row 4 (line 5)" in result.output
    record = last_verification(app.config["LOG_DIR"])
    assert record["ok"] is False and record["breaks"][0]["row"] == 4
    with open(verification_path(app.config["LOG_DIR"]), encoding="utf-8") as handle:
        assert json.load(handle)["checked"] == [os.path.basename(path)]


@pytest.mark.parametrize("day", ["yesterday", "2026-13-01"])
def test_the_command_refuses_a_date_it_cannot_read(runner, day):
    result = runner.invoke(args=["audit", "verify", "--date", day])
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output


def test_the_monitoring_page_shows_the_last_verification_and_its_break(app, runner, login):
    client = login("analyst")
    section = client.get("/monitoring").get_data(as_text=True).split('id="audit-chain"')[1]
    assert "flask --app webapp audit verify" in section.split("</section>")[0]
    path = write_rows(app.config["AUDIT_DIR"])
    runner.invoke(args=["audit", "verify"])
    section = client.get("/monitoring").get_data(as_text=True).split('id="audit-chain"')[1]
    assert "aucune ligne modifiée" in section.split("</section>")[0]
    lines = read_lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(path, lines)
    runner.invoke(args=["audit", "verify"])
    section = client.get("/monitoring").get_data(as_text=True).split('id="audit-chain"')[1]
    section = section.split("</section>")[0]
    assert os.path.basename(path) in section and "enregistrement 2 (ligne 3)" in section
    assert "intervertis" in section


@pytest.mark.parametrize("change", [
    lambda header: header.replace(CHAIN_COLUMN, "chain_sha257"),  # would pass as "unchained"
    lambda header: header.replace("score,threshold", "threshold,score"),
    lambda header: header.replace(",principal,", ",who,"),
])
def test_an_edited_header_is_reported_even_when_it_hides_the_chain(tmp_path, change):
    path = write_rows(tmp_path)
    lines = read_lines(path)
    lines[0] = change(lines[0])
    lines[2] = lines[2].replace(",0.5,", ",0.1,")  # the row edit the renamed header would hide
    write_lines(path, lines)
    report = only_report(tmp_path)
    assert (report.status, report.line, report.kind) == ("broken", 1, "header")


def test_a_chain_stripped_after_a_verification_is_not_passed_off_as_unchained(tmp_path):
    path = write_rows(tmp_path)
    assert only_report(tmp_path).status == "ok"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row[:-1] for row in csv.reader(handle)]  # the header and every hash cell cut
    rows[2][AUDIT_COLUMNS.index("score")] = "0.1"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    report = only_report(tmp_path)
    assert (report.status, report.kind) == ("broken", "rewritten")
