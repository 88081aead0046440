"""A chunk's audit summary taken from its columns equals the summary of its lines read back."""

import os

import pandas as pd
import pytest

from tests.conftest import NORMAL_CSV
from webapp.services.audit import CsvAuditSink
from webapp.services.monitoring.daycache import SummaryCache, read_new_bytes
from webapp.services.monitoring.summaries import merge_audit, summarise_audit
from webapp.services.registry import ModelRegistry
from webapp.services.scoring import predict_and_audit_columns


class Recorder:
    """Stands for the SummaryRefresher: keeps what the sink hands it."""

    def __init__(self):
        self.blocks = []

    def add_block(self, day, span, block):
        self.blocks.append((day, span, block))

    def __call__(self, days):
        pass


@pytest.fixture(scope="module")
def loaded(trained_store):
    return ModelRegistry(str(trained_store)).load_active("pump-1")


def test_block_summaries_equal_the_summaries_of_the_lines_written(loaded, tmp_path):
    from webapp.services.monitoring.summaries import block_summariser
    readings = pd.read_csv(NORMAL_CSV, sep=";")[list(loaded.model.columns)]
    recorder = Recorder()
    sink = CsvAuditSink(str(tmp_path / "audit"), recorder)
    scale = 1.0
    for start in range(0, 400, 90):  # some chunks far from the training data: anomalies
        frame = readings.iloc[start:start + 90].reset_index(drop=True) * scale
        predict_and_audit_columns(loaded, frame, sink, channel="batch", principal="p",
                                  request_id="b", batch_id="b", single=False)
        scale *= 1.5
    from_columns, from_lines = {}, {}
    for day, (begin, end), block in recorder.blocks:
        path = sink.path_for(day)
        columns, data, offset = read_new_bytes(path, begin)
        data = data[:end - begin]
        merge_audit(from_lines, summarise_audit(columns, data, from_lines))
        merge_audit(from_columns, block_summariser(block)(from_columns))
    assert from_columns == from_lines
    assert sum(from_lines["pump-1"]["readings"].values()) == 400


def test_the_cache_takes_blocks_and_reads_the_other_bytes(loaded, tmp_path):
    from webapp.services.monitoring.summaries import block_summariser
    readings = pd.read_csv(NORMAL_CSV, sep=";")[list(loaded.model.columns)]
    recorder = Recorder()
    sink = CsvAuditSink(str(tmp_path / "audit"), recorder)
    for start in range(0, 300, 100):
        predict_and_audit_columns(loaded, readings.iloc[start:start + 100].reset_index(drop=True),
                                  sink, channel="batch", principal="p", request_id=f"r{start}",
                                  single=False)
    day = recorder.blocks[0][0]
    path = sink.path_for(day)
    # The middle block is offered from its columns; the others are read from the file.
    _, (begin, end), block = recorder.blocks[1]
    cache = SummaryCache(str(tmp_path / "taken"))
    taken = cache.summary("audit", path, summarise_audit, merge_audit,
                          {begin: (end, block_summariser(block))})
    assert taken["offset"] == end  # up to the last block offered; the rest at the next pass
    taken = cache.summary("audit", path, summarise_audit, merge_audit)
    read = SummaryCache(str(tmp_path / "read")).summary("audit", path, summarise_audit,
                                                        merge_audit)
    assert taken["offset"] == read["offset"] == os.path.getsize(path)
    taken, read = taken["summary"]["pump-1"], read["summary"]["pump-1"]
    # Counts are the same; a sample depends on how the rows were cut into summaries (here
    # one piece against three), as it always did with the refresher's timing.
    assert {k: v for k, v in taken.items() if k != "samples"} == \
        {k: v for k, v in read.items() if k != "samples"}
    assert [(h, s["count"], s["columns"]) for h, s in taken["samples"].items()] == \
        [(h, s["count"], s["columns"]) for h, s in read["samples"].items()]
    assert sum(taken["volume"].values()) == 300
