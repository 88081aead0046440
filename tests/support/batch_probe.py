"""Score one file through the batch path in a fresh process and report its time and peak memory.

Used by the bounded-memory test (the benchmark times `flask score` itself): a fresh process,
so that the peak belongs to this file alone.
Run as `python -m tests.support.batch_probe STORE SOURCE OUT AUDIT WARM`.
"""

import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peak_mb():
    """The process's peak resident memory so far, in MB."""
    # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's peak across fork and exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_once(loaded, path, batch_id, sink_dir, results):
    """Score `path` with the CLI's batch path; returns its BatchSummary."""
    from webapp.services.audit import CsvAuditSink
    from webapp.services.batch.scorer import score_file
    with open(path, "rb") as binary:
        return score_file(binary, loaded, CsvAuditSink(sink_dir), batch_id=batch_id,
                          channel="cli", principal="probe", results_path=results,
                          errors_path=results + ".errors.csv")


def main(store, source, out, audit, warm):
    from webapp.services.batch.scorer import DEFAULT_CHUNK_ROWS
    from webapp.services.registry import ModelRegistry
    loaded = ModelRegistry(store).load_active("pump-1")
    score_once(loaded, warm, "warm", audit + "-warm", out + ".warm")  # load every code path
    baseline = peak_mb()
    started = time.perf_counter()
    summary = score_once(loaded, source, "probe", audit, out)
    print(json.dumps({"seconds": time.perf_counter() - started, "rows_read": summary.rows_read,
                      "scored": summary.scored, "rejected": summary.rejected,
                      "baseline_mb": baseline, "peak_mb": peak_mb(),
                      "chunk_rows": DEFAULT_CHUNK_ROWS}))


def run_probe(store, source, out, audit, warm, timeout=1800):
    """Run the probe in a fresh Python process; returns its figures as a dict."""
    done = subprocess.run([sys.executable, "-m", "tests.support.batch_probe", store, source, out,
                           audit, warm], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": ROOT})
    if done.returncode != 0:
        raise RuntimeError(f"batch probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main(*sys.argv[1:6])
