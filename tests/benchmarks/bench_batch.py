"""1,000,000 readings scored in-process against the same readings through the batch path.

In-process: AnomalyModel.score on one DataFrame already in memory (no validation, no audit).
Batch path: the CSV file read in chunks, validated, scored in order with context, results CSV
and error report written, one audit write per chunk (audit on), as `flask score` runs it.
The batch path runs in a fresh process so that its peak memory is its own.
"""

import os
import time

import numpy as np
import pandas as pd

from features.schema import SENSOR_COLUMNS
from tests.support.batch_probe import run_probe
from webapp.services.registry import ModelRegistry
from webapp.services.training import train_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINING_CSV = os.path.join(ROOT, "data", "anomaly-free.csv")
ROWS = 1_000_000

def write_rows(path, rows):
    """anomaly-free.csv repeated up to `rows` readings, as a ';' SKAB export."""
    with open(TRAINING_CSV, encoding="utf-8") as handle:
        header, *body = handle.read().splitlines()
    with open(path, "w", encoding="utf-8") as out:
        out.write(header + "\n")
        written = 0
        while written < rows:
            part = body[:rows - written]
            out.write("\n".join(part) + "\n")
            written += len(part)


def in_process(loaded, path):
    """Rows per second of AnomalyModel.score on the whole frame already in memory."""
    frame = pd.read_csv(path, sep=";")[list(SENSOR_COLUMNS)]
    started = time.perf_counter()
    scores = loaded.model.score(frame)
    seconds = time.perf_counter() - started
    assert len(scores.scores) == len(frame) and np.isfinite(scores.scores).all()
    return len(frame) / seconds, seconds


def batch_path(store, path, workdir):
    return run_probe(store, path, os.path.join(workdir, "results.csv"),
                     os.path.join(workdir, "audit"),
                     os.path.join(ROOT, "tests", "data", "normal_400.csv"))


def run(workdir):
    store = os.path.join(workdir, "model_store")
    train_version(ModelRegistry(store), "pump-1", TRAINING_CSV, created_by="bench")
    loaded = ModelRegistry(store).load_active("pump-1")
    source = os.path.join(workdir, "million.csv")
    write_rows(source, ROWS)
    rate, seconds = in_process(loaded, source)
    batch = batch_path(store, source, workdir)
    assert batch["scored"] == ROWS
    case_model = f"{ROWS:,} readings in-process (AnomalyModel.score)"
    case_batch = f"{ROWS:,} readings via batch path (CSV -> results + audit)"
    return [
        {"case": case_model, "figure": "throughput", "value": round(rate), "unit": "rows/s",
         "note": f"{seconds:.2f} s, frame in memory, no validation or audit"},
        {"case": case_batch, "figure": "throughput", "value": round(ROWS / batch["seconds"]),
         "unit": "rows/s", "note": f"{batch['seconds']:.1f} s, chunks of {batch['chunk_rows']:,}"},
        {"case": case_batch, "figure": "peak memory", "value": round(batch["peak_mb"]),
         "unit": "MB", "note": f"RSS; {batch['peak_mb'] - batch['baseline_mb']:.0f} MB above "
                               f"the {batch['baseline_mb']:.0f} MB of libraries and model"},
    ]
