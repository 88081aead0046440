"""Plain lines read by pandas a chunk at a time give what reading every line with csv gives."""

import csv
import io
import os
import random

import pytest

from tests.conftest import NORMAL_CSV
from webapp.services.audit import AUDIT_COLUMNS, CsvAuditSink
from webapp.services.batch import blocks, reader
from webapp.services.batch.reader import read_chunks
from webapp.services.batch.scorer import score_file
from webapp.services.registry import ModelRegistry

with open(NORMAL_CSV, encoding="utf-8") as _handle:
    HEADER, *BODY = _handle.read().splitlines()
ODD_CELLS = ["", " ", " 0.5", "0.5 ", "nan", "1e309", "=1+1", "-2", "@x", "0,5", '"', 'a"b',
             ";", ",", "é", "\t3", "a\rb", "١٢", "\ufeffx", "5", "+5", ".5"]


def odd_file(seed, separator=";", rows=400, line_end="\n"):
    """SKAB rows with a few odd cells, ragged or blank lines and junk bytes."""
    rng = random.Random(seed)
    lines = [HEADER.replace(";", separator) + separator + "note"]
    for row in BODY[:rows]:
        cells = row.split(";") + [rng.choice(["ok", "-1", "=x", "", "a b"])]
        if rng.random() < 0.05:
            cells[rng.randrange(len(cells))] = rng.choice(ODD_CELLS)
        if rng.random() < 0.01:
            cells = cells[:-1] if rng.random() < 0.5 else cells + ["extra"]
        lines.append(separator.join(cells) if rng.random() > 0.01 else "")
    data = (line_end.join(lines) + line_end).encode("utf-8")
    if seed % 3 == 0:
        cut = rng.randrange(len(data) // 2, len(data))
        data = data[:cut] + b"\xff\x00" + data[cut:]
    return data


def careful_only(monkeypatch):
    """Every line read record by record with the csv module, as before plain blocks."""
    monkeypatch.setattr(reader, "clean_lines", lambda *args: 0)


def chunks(data, separator, chunk_rows):
    binary = io.BytesIO(data)
    binary.readline()
    columns = HEADER.replace(";", separator).split(separator) + ["note"]
    return [(chunk.table.values.tolist(), chunk.lines.tolist(),
             [p.as_row() for p in chunk.problems], chunk.rejected_rows)
            for chunk in read_chunks(binary, columns, separator, chunk_rows)]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("separator,line_end", [(";", "\n"), (",", "\n"), (";", "\r\n")])
def test_chunks_are_the_same_with_and_without_plain_blocks(seed, separator, line_end,
                                                           monkeypatch):
    data = odd_file(seed, separator, line_end=line_end)
    chunk_rows = [7, 50, 1000][seed % 3]
    fast = chunks(data, separator, chunk_rows)
    careful_only(monkeypatch)
    assert fast == chunks(data, separator, chunk_rows)


def test_a_long_file_of_plain_lines_is_read_in_blocks(monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1000)
    data = ("\n".join(BODY * 3) + "\n").encode()
    columns = HEADER.split(";")
    read = list(read_chunks(io.BytesIO(data), columns, ";", 500))
    assert [len(chunk.table) for chunk in read][:2] == [500, 500]
    assert sum(len(chunk.table) for chunk in read) == 3 * len(BODY)
    assert all(chunk.comma_lines is not None for chunk in read)


def outputs(data, loaded, workdir):
    os.makedirs(workdir)
    sink = CsvAuditSink(os.path.join(workdir, "audit"))
    summary = score_file(io.BytesIO(data), loaded, sink, batch_id="b", channel="batch",
                         principal="p", results_path=os.path.join(workdir, "r.csv"),
                         errors_path=os.path.join(workdir, "e.csv"), chunk_rows=60)
    audit = []
    for name in sorted(os.listdir(sink.directory)):
        with open(os.path.join(sink.directory, name), newline="", encoding="utf-8") as handle:
            audit.extend([cell for column, cell in zip(AUDIT_COLUMNS, row, strict=True)
                          if column not in ("timestamp_utc", "latency_ms", "chain_sha256")]
                         for row in list(csv.reader(handle))[1:])
    with open(os.path.join(workdir, "r.csv"), "rb") as results, \
            open(os.path.join(workdir, "e.csv"), "rb") as errors:
        return summary.as_dict(), results.read(), errors.read(), audit


@pytest.mark.parametrize("seed", range(4))
def test_results_errors_and_audit_are_the_same_with_and_without_plain_blocks(
        seed, trained_store, tmp_path, monkeypatch):
    loaded = ModelRegistry(str(trained_store)).load_active("pump-1")
    data = odd_file(seed, ";,"[seed % 2], rows=300)
    fast = outputs(data, loaded, str(tmp_path / "fast"))
    careful_only(monkeypatch)
    assert fast == outputs(data, loaded, str(tmp_path / "careful"))
