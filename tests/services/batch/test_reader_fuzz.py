"""Hostile CSV files: random cells, formulas, huge numbers, junk bytes; no crash, no lost row."""

import csv
import io
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.schema import SENSOR_COLUMNS
from tests.conftest import NORMAL_CSV
from webapp.services.audit import AUDIT_COLUMNS, CsvAuditSink
from webapp.services.batch.reader import BatchFileError
from webapp.services.batch.scorer import score_file
from webapp.services.registry import ModelRegistry

with open(NORMAL_CSV, encoding="utf-8") as _handle:
    GOOD_ROWS = [line.split(";")[1:] for line in _handle.read().splitlines()[1:60]]

HOSTILE_CELLS = st.one_of(
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e308", "1e309", "-1e400",
                     "=1+1", "+SUM(A1)", "-2+3", "@cmd", "=HYPERLINK(\"x\")", "0,5", "1.2.3",
                     "\x00", "é", "\"", "\"\"", ";", ",", "0x10", "١٢", "∞"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10 ** 30, max_value=10 ** 30).map(str),
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def loaded(trained_store):
    return ModelRegistry(str(trained_store)).load_active("pump-1")


def row_strategy():
    """A row of good readings with some cells replaced by hostile ones, maybe ragged."""
    good = st.sampled_from(GOOD_ROWS)
    return st.tuples(good, st.lists(st.tuples(st.integers(0, 9), HOSTILE_CELLS), max_size=3),
                     st.integers(-2, 2)).map(_mutate)


def _mutate(parts):
    row, replacements, ragged = parts
    row = list(row) + ["note"]
    for index, cell in replacements:
        row[index % len(row)] = cell
    if ragged < 0:
        row = row[:ragged]
    elif ragged > 0:
        row = row + ["extra"] * ragged
    return row


def render(rows, separator):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow([*SENSOR_COLUMNS, "note"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", errors="surrogatepass")


def is_number(text):
    """A plain number is data, not a formula, even with a sign."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def audit_rows(directory):
    rows = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name), newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames) == AUDIT_COLUMNS
            rows.extend(reader)
    return rows


def score(data, loaded, workdir):
    sink = CsvAuditSink(os.path.join(workdir, "audit"))
    summary = score_file(io.BytesIO(data), loaded, sink, batch_id="fuzz", channel="batch",
                         principal="fuzzer", results_path=os.path.join(workdir, "r.csv"),
                         errors_path=os.path.join(workdir, "e.csv"), chunk_rows=7)
    return summary, audit_rows(sink.directory)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy(), min_size=1, max_size=25), separator=st.sampled_from(";,"))
def test_hostile_rows_are_scored_or_listed_never_lost(loaded, rows, separator):
    with tempfile.TemporaryDirectory() as workdir:
        try:
            summary, audited = score(render(rows, separator), loaded, workdir)
        except BatchFileError as error:
            assert str(error)
            return
        assert summary.rows_read == summary.scored + summary.rejected
        assert summary.rows_read == len(rows)
        assert len(audited) == summary.scored
        assert all(None not in row and row["batch_id"] == "fuzz" for row in audited)
        with open(os.path.join(workdir, "r.csv"), newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                assert is_number(row["note"]) or not row["note"].startswith(
                    ("=", "+", "-", "@")), row["note"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=400))
def test_binary_files_renamed_csv_get_a_clear_error_or_listed_rows(loaded, junk):
    with tempfile.TemporaryDirectory() as workdir:
        try:
            summary, audited = score(junk, loaded, workdir)
        except BatchFileError as error:
            assert str(error)
            return
        assert len(audited) == summary.scored
        assert summary.rows_read == summary.scored + summary.rejected
