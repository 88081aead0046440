"""Detector speed in-process: fit on anomaly-free.csv, one reading, and 1,000,000 readings."""

import os
import statistics
import time
import tracemalloc

import numpy as np
import pandas as pd

from features.pipeline import fit_model
from features.schema import SENSOR_COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINING_CSV = os.path.join(ROOT, "data", "anomaly-free.csv")
SINGLE_REPEATS = 2000
MANY_ROWS = 1_000_000


def timed(function, repeats):
    """Wall-clock seconds of each of `repeats` calls."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return durations


def milliseconds(seconds, quantile):
    return round(1000 * float(np.quantile(seconds, quantile)), 3)


def run(workdir):
    """Rows for tests/benchmarks/run.py: case, figure, value, unit, note."""
    frame = pd.read_csv(TRAINING_CSV, sep=";")[list(SENSOR_COLUMNS)]
    fits = timed(lambda: fit_model(frame), 5)
    model, _ = fit_model(frame)
    rows = [{"case": f"fit_model on anomaly-free.csv ({len(frame)} readings)",
             "figure": "median time", "value": round(statistics.median(fits), 3), "unit": "s",
             "note": "fit + threshold + calibration warnings, file already read"}]

    one = frame.iloc[[100]].reset_index(drop=True)
    single = timed(lambda: model.score(one), SINGLE_REPEATS)
    rows += [{"case": "one reading, AnomalyModel.score, no context", "figure": "p50 latency",
              "value": milliseconds(single, 0.5), "unit": "ms", "note": "in-process"},
             {"case": "one reading, AnomalyModel.score, no context", "figure": "p99 latency",
              "value": milliseconds(single, 0.99), "unit": "ms",
              "note": f"{SINGLE_REPEATS} calls"}]
    context = frame.iloc[:model.context_size]
    streamed = timed(lambda: model.score(one, context=context), SINGLE_REPEATS)
    rows.append({"case": f"one reading with {model.context_size} readings of context",
                 "figure": "p50 latency", "value": milliseconds(streamed, 0.5), "unit": "ms",
                 "note": f"p99 {milliseconds(streamed, 0.99)} ms (stream, batch continuation)"})

    many = pd.DataFrame(np.resize(frame.to_numpy(), (MANY_ROWS, frame.shape[1])),
                        columns=frame.columns)
    seconds = min(timed(lambda: model.score(many), 3))
    cpu_started = time.process_time()
    model.score(many)
    cpu = time.process_time() - cpu_started
    rows.append({"case": f"{MANY_ROWS:,} readings, AnomalyModel.score", "figure": "throughput",
                 "value": round(MANY_ROWS / seconds), "unit": "rows/s",
                 "note": f"best of 3: {seconds:.2f} s wall, {cpu:.2f} s CPU; one call, "
                         f"load average {os.getloadavg()[0]:.1f}"})
    tracemalloc.start()
    model.score(many)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows.append({"case": f"{MANY_ROWS:,} readings, AnomalyModel.score", "figure": "peak memory",
                 "value": round(peak / 2 ** 20), "unit": "MiB",
                 "note": f"input frame itself {many.memory_usage().sum() / 2 ** 20:.0f} MiB"})
    return rows
