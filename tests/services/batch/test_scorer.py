"""Batch scoring (webapp/services/batch/): reading, rejected rows, chunking, results, audit."""

import csv
import io
import os

import numpy as np
import pandas as pd
import pytest

from features.schema import SENSOR_COLUMNS
from tests.conftest import NORMAL_CSV
from webapp.services.audit import AuditError, CsvAuditSink, count_batch_rows
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.scorer import ERROR_COLUMNS, RESULT_COLUMNS, ScoreOutline, score_file
from webapp.services.evaluation import confusion_metrics
from webapp.services.registry import ModelRegistry

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ANOMALY_FREE = os.path.join(ROOT, "data", "anomaly-free.csv")


@pytest.fixture
def loaded(paths):
    return ModelRegistry(paths["MODEL_STORE"]).load_active("pump-1")


class CountingSink(CsvAuditSink):
    """The real CSV sink, counting its writes (rows as dicts, or a block of columns)."""

    def __init__(self, directory):
        super().__init__(directory)
        self.calls = 0

    def write(self, rows):
        self.calls += 1
        super().write(rows)

    def write_block(self, block):
        self.calls += 1
        super().write_block(block)


@pytest.fixture
def sink(tmp_path):
    return CountingSink(str(tmp_path / "audit"))


def normal_lines(count=120, separator=";"):
    """Header and `count` real SKAB readings, as text lines."""
    with open(NORMAL_CSV, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return [line.replace(";", separator) for line in lines[:count + 1]]


def run(loaded, sink, tmp_path, content, chunk_rows=50, name="run", **options):
    """Score `content` (bytes or text); returns (summary, results frame, errors frame)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    results_path, errors_path = str(tmp_path / f"{name}.csv"), str(tmp_path / f"{name}.err.csv")
    summary = score_file(io.BytesIO(data), loaded, sink, batch_id=options.pop("batch_id", name),
                         channel=options.pop("channel", "batch"), principal="tester",
                         results_path=results_path, errors_path=errors_path,
                         chunk_rows=chunk_rows, **options)
    results = pd.read_csv(results_path, dtype=str, keep_default_na=False)
    errors = pd.read_csv(errors_path, dtype=str, keep_default_na=False)
    return summary, results, errors


def audit_frame(sink):
    frames = [pd.read_csv(os.path.join(sink.directory, name), dtype=str, keep_default_na=False)
              for name in sorted(os.listdir(sink.directory))] if os.path.isdir(sink.directory) \
        else []
    return pd.concat(frames) if frames else pd.DataFrame(columns=["batch_id"])


def test_real_skab_rows_are_scored_in_order_with_results_columns(loaded, sink, tmp_path):
    summary, results, errors = run(loaded, sink, tmp_path, "\n".join(normal_lines(120)) + "\n")
    assert (summary.rows_read, summary.scored, summary.rejected) == (120, 120, 0)
    assert list(results.columns) == ["datetime", *SENSOR_COLUMNS, *RESULT_COLUMNS]
    assert results["datetime"].iloc[0] == "2020-02-08 13:30:47"
    assert results["Pressure"].iloc[1] == "-0.273216"  # input cells as given
    assert set(results["asset"]) == {"pump-1"} and set(results["model_version"]) == {"v1"}
    assert set(results["predicted_anomaly"]) <= {"0", "1"}
    expected = loaded.model.score(pd.read_csv(NORMAL_CSV, sep=";").iloc[:120])
    assert np.allclose(results["score"].astype(float), expected.scores, atol=1e-5)
    assert list(errors.columns) == list(ERROR_COLUMNS) and errors.empty


def test_chunked_results_equal_whole_file_results_with_rejected_rows_between(loaded, sink,
                                                                            tmp_path):
    lines = normal_lines(300)
    lines[40] = lines[40].replace(";", ";abc", 1)  # a rejected row inside the sequence
    lines[201] = "2020-02-08 13:34:00;1;2"
    content = "\n".join(lines) + "\n"
    whole = run(loaded, sink, tmp_path, content, chunk_rows=10_000, name="whole")
    for size in (1, 7, 64):
        chunked = run(loaded, sink, tmp_path, content, chunk_rows=size, name=f"c{size}")
        pd.testing.assert_frame_equal(whole[1], chunked[1])
        pd.testing.assert_frame_equal(whole[2], chunked[2])
    assert whole[0].scored == 298 and whole[0].rejected == 2


def test_every_rejected_row_is_listed_with_its_line_column_and_reason(loaded, sink, tmp_path):
    lines = normal_lines(12)
    header = lines[0].split(";")
    pressure, current = header.index("Pressure"), header.index("Current")

    def with_cell(line, index, value):
        cells = line.split(";")
        cells[index] = value
        return ";".join(cells)

    lines[2] = with_cell(lines[2], pressure, "abc")          # file line 3: text in a number
    lines[4] = with_cell(lines[4], current, "")              # line 5: empty
    lines[5] = with_cell(lines[5], current, "NaN")           # line 6: NaN
    lines[7] = with_cell(lines[7], pressure, "999")          # line 8: out of range
    lines[9] = lines[9] + ";extra"                           # line 10: one field too many
    lines[10] = with_cell(lines[10], current, "2,5")         # line 11: decimal comma is valid
    summary, results, errors = run(loaded, sink, tmp_path, "\n".join(lines) + "\n")
    assert (summary.rows_read, summary.scored, summary.rejected) == (12, 7, 5)
    listed = list(zip(errors["line"].astype(int), errors["column"], errors["code"], strict=True))
    assert listed == [(3, "Pressure", "not_a_number"), (5, "Current", "missing"),
                      (6, "Current", "not_finite"), (8, "Pressure", "out_of_range"),
                      (10, "", "field_count")]
    assert errors["value"].iloc[0] == "abc"
    assert "between -5 and 25 bar" in errors["reason"].iloc[3]
    assert "10 fields, the header has 9" in errors["reason"].iloc[4]
    assert results["Current"].tolist()[-3] == "2,5"  # file line 11
    assert len(audit_frame(sink)) == summary.scored


@pytest.mark.parametrize("transform", [
    lambda text: text.replace(";", ","),                                  # ',' separator
    lambda text: "\ufeff" + text,                                         # UTF-8 BOM
    lambda text: text.replace("\n", "\r\n"),                              # CRLF
    lambda text: "\ufeff" + text.replace(";", ",").replace("\n", "\r\n"),  # all at once
], ids=["comma", "bom", "crlf", "bom-comma-crlf"])
def test_separators_bom_and_crlf_give_the_same_results(loaded, sink, tmp_path, transform):
    text = "\n".join(normal_lines(60)) + "\n"
    reference = run(loaded, sink, tmp_path, text, name="ref")[1]
    summary, results, _ = run(loaded, sink, tmp_path, transform(text), name="variant")
    assert summary.scored == 60 and summary.rejected == 0
    pd.testing.assert_frame_equal(reference, results)


@pytest.mark.parametrize("content, code, words", [
    (b"", "empty", "empty"),
    (b"\n\n", "empty", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not_text", "not a CSV text file"),
    (b"\xff\xfe\x00d\x00a\x00t\x00e", "not_text", "not a CSV text file"),
    (b"datetime\tAccelerometer1RMS\tCurrent\n1\t2\t3\n", "missing_columns", "single column"),
    (b"datetime;Current;Current\n", "duplicate_columns", "Current"),
], ids=["empty", "blank-lines", "binary-png", "utf16", "tab-separator", "duplicate"])
def test_files_that_cannot_be_scored_say_why_and_score_nothing(loaded, sink, tmp_path,
                                                              content, code, words):
    with pytest.raises(BatchFileError) as caught:
        run(loaded, sink, tmp_path, content)
    assert caught.value.code == code and words in str(caught.value)
    assert not os.path.exists(tmp_path / "run.csv") and not os.path.exists(tmp_path / "run.csv.tmp")
    assert sink.calls == 0


def test_missing_columns_are_listed_by_name(loaded, sink, tmp_path):
    frame = pd.read_csv(NORMAL_CSV, sep=";", dtype=str).drop(columns=["Voltage", "Pressure"])
    with pytest.raises(BatchFileError) as caught:
        run(loaded, sink, tmp_path, frame.to_csv(sep=";", index=False))
    assert caught.value.params["missing"] == ["Pressure", "Voltage"]
    assert str(caught.value).startswith("missing sensor columns: Pressure, Voltage")


def test_header_only_is_a_clear_error(loaded, sink, tmp_path):
    with pytest.raises(BatchFileError, match="header but no readings"):
        run(loaded, sink, tmp_path, normal_lines(0)[0] + "\r\n")


def test_binary_junk_inside_a_file_is_rejected_rows_not_a_crash(loaded, sink, tmp_path):
    lines = [line.encode() for line in normal_lines(30)]
    lines[5] = b"\x00\x01\x02\xff binary"
    lines[9] = b"caf\xe9;" + lines[9]
    summary, results, errors = run(loaded, sink, tmp_path, b"\n".join(lines) + b"\n")
    assert summary.rejected == 2 and summary.scored == 28
    assert errors["line"].astype(int).tolist() == [6, 10]
    assert set(errors["code"]) == {"not_text"}


def test_other_columns_are_carried_and_formulas_neutralised(loaded, sink, tmp_path):
    lines = normal_lines(4)
    lines[0] += ";notes;anomaly"
    lines[1] += ";=HYPERLINK(\"http://x\");0"
    lines[2] += ";-3.5;1"
    lines[3] += ";@SUM(A1);0"
    lines[4] += ";ok, fine;1"
    bad = lines[4].split(";")
    bad[4] = "=cmd|' /C calc'!A0"
    lines[4] = ";".join(bad)
    summary, results, errors = run(loaded, sink, tmp_path, "\n".join(lines) + "\n")
    assert results["notes"].tolist() == ["'=HYPERLINK(\"http://x\")", "-3.5", "'@SUM(A1)"]
    assert results["anomaly"].tolist() == ["0", "1", "0"]
    assert errors["value"].tolist() == ["'=cmd|' /C calc'!A0"]


def test_labels_give_the_same_comparison_as_confusion_metrics(loaded, sink, tmp_path):
    lines = normal_lines(200)
    labels = [(i // 30) % 2 for i in range(200)]
    lines[0] += ";anomaly"
    for i, label in enumerate(labels):
        lines[i + 1] += f";{label}"
    lines[50] = lines[50][:-1] + "x"  # an unknown label: scored, left out of the comparison
    summary, results, _ = run(loaded, sink, tmp_path, "\n".join(lines) + "\n", chunk_rows=33)
    known = [i for i in range(200) if i != 49]
    predicted = results["predicted_anomaly"].astype(int).to_numpy()
    expected = confusion_metrics(np.array(labels)[known], predicted[known])
    assert summary.metrics == expected and summary.labels_ignored == 1


def test_audit_has_one_row_per_scored_reading_and_one_write_per_chunk(loaded, sink, tmp_path):
    lines = normal_lines(250)
    lines[100] = "broken"
    summary, _, _ = run(loaded, sink, tmp_path, "\n".join(lines) + "\n", chunk_rows=100,
                        batch_id="b1", channel="cli")
    audit = audit_frame(sink)
    assert len(audit) == summary.scored == 249
    assert set(audit["batch_id"]) == {"b1"} and set(audit["channel"]) == {"cli"}
    assert set(audit["request_id"]) == {"b1"} and set(audit["principal"]) == {"tester"}
    assert audit["reading_timestamp"].iloc[0] == "2020-02-08 13:30:47"
    assert sink.calls == 3  # 250 rows in chunks of 100: three writes, not 249


def test_a_resumed_batch_does_not_audit_readings_twice(loaded, sink, tmp_path):
    content = "\n".join(normal_lines(250)) + "\n"
    first, _, _ = run(loaded, sink, tmp_path, content, chunk_rows=100, batch_id="b2")
    already = count_batch_rows(sink.directory, "b2", "2000-01-01")
    assert already == 250
    # As after a crash between chunks: 137 readings audited, the file is scored again.
    again, results, _ = run(loaded, sink, tmp_path, content, chunk_rows=100, batch_id="b3",
                            already_audited=137, name="again")
    assert again.audited == 250 - 137 and again.scored == 250
    assert count_batch_rows(sink.directory, "b3", "2000-01-01") == 113


def test_score_outline_is_bounded_and_keeps_each_buckets_highest_score():
    outline = ScoreOutline(max_points=100)
    scores = np.zeros(10_000)
    scores[5_123] = 42.0
    for start in range(0, 10_000, 777):
        part = scores[start:start + 777]
        outline.add(start, part, [str(i) for i in range(start, start + len(part))])
    data = outline.as_dict()
    assert len(data["scores"]) <= 100 and max(data["scores"]) == 42.0
    assert "5123" in data["labels"]


def test_anomaly_free_skab_file_is_scored_whole(loaded, sink, tmp_path):
    with open(ANOMALY_FREE, "rb") as handle:
        summary, results, errors = run(loaded, sink, tmp_path, handle.read(), chunk_rows=2000)
    assert summary.rows_read == 9405 and summary.rejected == 0 and len(results) == 9405
    assert len(audit_frame(sink)) == 9405
    assert len(summary.outline["scores"]) <= 1000


def test_results_csv_is_comma_separated_utf8(loaded, sink, tmp_path):
    lines = normal_lines(3)
    lines[0] += ";site"
    lines[1:] = [line + ";Pompe à eau" for line in lines[1:]]
    run(loaded, sink, tmp_path, "\n".join(lines))
    with open(tmp_path / "run.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-7:] == ["site", *RESULT_COLUMNS] and rows[1][9] == "Pompe à eau"


def test_header_names_and_semicolon_payloads_are_formula_safe(loaded, sink, tmp_path):
    # A comma file: a French spreadsheet opening results.csv splits each line on ';' too.
    lines = normal_lines(2, separator=",")
    lines[0] += ',"=HYPERLINK(""http://x"")"'
    lines[1] += ',"a;=1+1;b"'
    lines[2] += ",-0.5;+2"
    run(loaded, sink, tmp_path, "\n".join(lines) + "\n")
    text = open(tmp_path / "run.csv", encoding="utf-8").read()
    header, first, second = text.splitlines()
    assert header.split(",")[len(SENSOR_COLUMNS) + 1] == '"\'=HYPERLINK(""http://x"")"'
    assert "a;'=1+1;b" in first and ";=" not in first
    assert "'-0.5;'+2" in second


class FailingSink(CountingSink):
    """The real CSV sink whose `fail_at`-th write fails as a full disk would."""

    def __init__(self, directory, fail_at):
        super().__init__(directory)
        self.fail_at = fail_at

    def write_block(self, block):
        if self.calls + 1 == self.fail_at:
            self.calls += 1
            raise AuditError("the audit log could not be written (No space left on device)")
        super().write_block(block)


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_an_audit_write_that_fails_publishes_no_result(loaded, tmp_path, fail_at):
    # Chunks are audited by a thread while the next one is scored: a failed write still
    # fails the file before any result or error report is published.
    sink = FailingSink(str(tmp_path / "audit"), fail_at)
    with pytest.raises(AuditError):
        run(loaded, sink, tmp_path, "\n".join(normal_lines(250)) + "\n", chunk_rows=100)
    assert not any(name.startswith("run") for name in os.listdir(tmp_path))
    assert len(audit_frame(sink)) == 100 * (fail_at - 1)
