"""1,000,000 readings scored in-process, and end to end by `flask score` beside the floor.

In-process: AnomalyModel.score on one DataFrame already in memory (no validation, no audit).
End to end: `flask score` as a user runs it (the CSV file read in chunks, validated, scored in
order with context, results CSV and error report written, one audit write per chunk), beside
the floor (tests/benchmarks/batch_floor.py: the whole file read with pandas, predicted by the
anchor's PCA-T² pipeline, results and an audit with JSON inputs written with to_csv). Each
runs in a process of its own: wall time, and peak RSS from that process's rusage.
"""

import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from features.schema import SENSOR_COLUMNS
from tests.benchmarks.bare_app import fit_anchor
from webapp.services.registry import ModelRegistry
from webapp.services.training import train_version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAINING_CSV = os.path.join(ROOT, "data", "anomaly-free.csv")
ROWS = 1_000_000
FLASK = os.path.join(os.path.dirname(sys.executable), "flask")

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


# Runs a command and prints its peak RSS (KB). A launcher of its own, because ru_maxrss counts
# the RSS a process had when it was forked: forked from this bench, which holds a million rows,
# a command would seem to need as much.
LAUNCHER = """
import os, sys
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
pid = os.fork()
if pid == 0:
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed_process(command, log_path, env=None):
    """Run `command` to the end; returns (wall seconds, peak RSS in MB) of that process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, log_path, *command], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            raise RuntimeError(f"{command[:3]} failed: {log.read()[-2000:]}{done.stderr}")
    return seconds, int(done.stdout.split()[-1]) / 1024


def end_to_end(store, source, workdir):
    """`flask score` on the file, then the floor on the same file: {name: (seconds, MB)}."""
    env = {"VIGIE_MODEL_STORE": store, "VIGIE_LOG_DIR": os.path.join(workdir, "logs"),
           "VIGIE_INSTANCE_DIR": os.path.join(workdir, "instance")}
    vigie = timed_process([FLASK, "--app", "webapp", "score", source, "--asset", "pump-1",
                           "--out", os.path.join(workdir, "score-results.csv")],
                          os.path.join(workdir, "score.log"), env)
    model_path = os.path.join(workdir, "anchor.pkl")
    with open(TRAINING_CSV, encoding="utf-8") as handle:
        training = pd.read_csv(handle, sep=";")
    with open(model_path, "wb") as handle:
        pickle.dump(fit_anchor(training), handle)
    floor = timed_process([sys.executable, "-m", "tests.benchmarks.batch_floor", model_path,
                           source, workdir], os.path.join(workdir, "floor.log"))
    return {"vigie": vigie, "floor": floor}


def end_to_end_rows(figures):
    """`flask score` beside the floor, with the ratios."""
    (seconds, peak), (floor_seconds, floor_peak) = figures["vigie"], figures["floor"]
    case = f"{ROWS:,}-row CSV end to end"
    return [
        {"case": f"{case}: flask score", "figure": "wall time", "value": round(seconds, 1),
         "unit": "s", "note": f"{seconds / floor_seconds:.2f}x floor; "
                              f"{round(ROWS / seconds):,} rows/s"},
        {"case": f"{case}: flask score", "figure": "peak memory", "value": round(peak),
         "unit": "MB", "note": f"RSS; {peak / floor_peak:.2f}x floor"},
        {"case": f"{case}: floor (pandas, whole file)", "figure": "wall time",
         "value": round(floor_seconds, 1), "unit": "s",
         "note": "read_csv, predict, results to_csv, audit with JSON inputs to_csv"},
        {"case": f"{case}: floor (pandas, whole file)", "figure": "peak memory",
         "value": round(floor_peak), "unit": "MB", "note": "RSS"},
    ]


def run(workdir):
    store = os.path.join(workdir, "model_store")
    train_version(ModelRegistry(store), "pump-1", TRAINING_CSV, created_by="bench")
    loaded = ModelRegistry(store).load_active("pump-1")
    source = os.path.join(workdir, "million.csv")
    write_rows(source, ROWS)
    rate, seconds = in_process(loaded, source)
    case_model = f"{ROWS:,} readings in-process (AnomalyModel.score)"
    return [
        {"case": case_model, "figure": "throughput", "value": round(rate), "unit": "rows/s",
         "note": f"{seconds:.2f} s, frame in memory, no validation or audit"},
    ] + end_to_end_rows(end_to_end(store, source, workdir))
