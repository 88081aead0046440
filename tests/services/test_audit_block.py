"""Audit rows carried as columns (AuditBlock) are written byte for byte as the rows as dicts."""

import csv
import json
import os

import numpy as np
import pandas as pd
import pytest

from tests.conftest import NORMAL_CSV
from webapp.services.audit import AUDIT_COLUMNS, AuditSink, CsvAuditSink
from webapp.services.audit_block import AuditBlock, float_cells
from webapp.services.audit_chain import CHAIN_COLUMN, split_lines
from webapp.services.registry import ModelRegistry
from webapp.services.scoring import inputs_json, predict_and_audit, predict_and_audit_columns
from webapp.services.storage import render_rows

CELLS = AUDIT_COLUMNS[:-1]


@pytest.fixture(scope="module")
def loaded(trained_store):
    return ModelRegistry(str(trained_store)).load_active("pump-1")


def test_float_cells_are_repr_whatever_the_magnitude():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(size=5000) * 10.0 ** rng.integers(-12, 22, 5000),
                             np.round(rng.normal(size=2000), 6),
                             [0.0, -0.0, 1e-4, 9.999e-5, 1e16, 9999999999999998.0, 5e-324,
                              np.nan, np.inf, -np.inf, 5.0, -123456.789]])
    assert float_cells(values) == [repr(value) for value in values.tolist()]


@pytest.mark.parametrize("dtypes", ["floats", "ints", "mixed", "reordered"])
def test_inputs_json_is_what_json_dumps_writes_for_each_row(dtypes):
    rng = np.random.default_rng(3)
    columns = ["b", 'quote"d', "100%", "a"]
    frame = pd.DataFrame(rng.normal(size=(50, 4)) * 10.0 ** rng.integers(-8, 18, (50, 4)),
                         columns=columns)
    if dtypes in ("ints", "mixed"):
        frame["a"] = rng.integers(-10**6, 10**6, 50)
    if dtypes == "ints":
        frame = frame.astype(np.int64)
    order = list(reversed(columns)) if dtypes == "reordered" else columns
    expected = [json.dumps({column: row[column] for column in order}, separators=(",", ":"))
                for row in frame.astype(object).to_dict("records")]
    assert inputs_json(frame, order) == expected


TEXTS = ["plain", "a,b", 'say "hi"', "=cmd", "-2", "@x", "", "é;=1", "\tx", "x'y"]


@pytest.mark.parametrize("seed", range(6))
def test_lines_are_what_render_rows_writes_for_the_same_rows(seed):
    rng = np.random.default_rng(seed)
    count = 50
    names = ["b", "a%s", 'q"uote', "Temp,C"]
    common = {"timestamp_utc": "2026-03-20T10:00:00.000Z", "request_id": TEXTS[seed],
              "channel": "batch", "principal": TEXTS[-seed], "asset": "pump-1",
              "model_version": "v1", "threshold": 1.25, "latency_ms": 3.5}
    varying = {"reading_timestamp": [TEXTS[i] for i in rng.integers(0, len(TEXTS), count)],
               "score": np.round(rng.exponential(size=count), 6).tolist(),
               "anomaly": (rng.random(count) > 0.5).tolist(),
               "top_sensors": ["a;b" if i % 2 else "=b" for i in range(count)]}
    values = [rng.normal(size=count) * 10.0 ** rng.integers(-6, 6) for _ in names]
    block = AuditBlock(count, common, varying, (names, values))
    rows = block.rows()
    assert list(block.lines(CELLS)) == split_lines(render_rows(rows, CELLS), count, None)
    older = CELLS[:12]  # a day file begun with older columns keeps them
    assert list(block.lines(older)) == split_lines(render_rows(rows, older), count, None)


def test_a_line_break_in_a_cell_leaves_the_lines_to_render_rows():
    block = AuditBlock(2, {"timestamp_utc": "2026-03-20T10:00:00.000Z"},
                       {"reading_timestamp": ["ok", "two\nlines"], "score": [1.0, 2.0],
                        "anomaly": [True, False]}, (["a"], [np.array([1.0, 2.0])]))
    assert block.lines(CELLS) is None


def read_audit(directory):
    rows = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            assert tuple(reader.fieldnames) == AUDIT_COLUMNS
            rows.extend({k: v for k, v in row.items()
                         if k not in ("timestamp_utc", "latency_ms", CHAIN_COLUMN)}
                        for row in reader)
    return rows


class DictSink(AuditSink):
    """A sink that takes rows as dicts only (as the database sink does)."""

    def __init__(self):
        self.rows = []

    def write(self, rows):
        self.rows.extend(rows)


def test_a_chunk_audited_as_columns_equals_the_same_chunk_audited_as_dicts(loaded, tmp_path):
    frame = pd.read_csv(NORMAL_CSV, sep=";")[list(loaded.model.columns)].iloc[:300]
    stamps = [f"=2020-01-01 00:{i % 60:02d}" for i in range(len(frame))]
    options = dict(channel="batch", principal="p,=\"x", request_id="r1", batch_id="r1",
                   reading_timestamps=stamps, context=None, single=False)
    dicts, columns = CsvAuditSink(str(tmp_path / "a")), CsvAuditSink(str(tmp_path / "b"))
    _, results = predict_and_audit(loaded, frame, dicts, **options)
    verdicts = predict_and_audit_columns(loaded, frame, columns, **options)
    assert read_audit(tmp_path / "a") == read_audit(tmp_path / "b")
    assert [r.as_dict() for r in results] == [r.as_dict() for r in verdicts.results()]
    assert [";".join(r.top_sensors) for r in results] == verdicts.top_sensors()
    plain = DictSink()
    predict_and_audit_columns(loaded, frame, plain, **options)
    expected = DictSink()
    predict_and_audit(loaded, frame, expected, **options)
    strip = ("timestamp_utc", "latency_ms")
    assert [{k: v for k, v in row.items() if k not in strip} for row in plain.rows] == \
        [{k: v for k, v in row.items() if k not in strip} for row in expected.rows]


def test_round6_is_round_to_six_decimals_even_at_halves():
    from webapp.services.scoring import round6
    rng = np.random.default_rng(2)
    halves = (rng.integers(0, 10 ** 9, 20000) + 0.5) / 1e6
    values = np.concatenate([rng.exponential(size=20000) * 10.0 ** rng.integers(-8, 5, 20000),
                             halves, np.nextafter(halves, 0), np.nextafter(halves, 1),
                             [0.0, -0.0, np.inf, 1e300, 5e-324, 5e-7, 1.5e-6, -2.5e-6]])
    assert [repr(x) for x in round6(values)] == [repr(round(x, 6)) for x in values.tolist()]
