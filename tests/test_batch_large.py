"""A 1,000,000-row file goes through the batch path (results + audit) within bounded memory."""

import os
import subprocess
import sys

from tests.conftest import NORMAL_CSV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = 1_000_000
# Reading the whole file at once as text cells takes well over 1 GB; chunks of 20,000 rows
# need about 100 MB above the baseline of the loaded libraries and model.
PEAK_ABOVE_BASELINE_MB = 300

PROBE = """
import resource, sys
from webapp.audit import CsvAuditSink
from webapp.batching import score_file
from webapp.registry import ModelRegistry

store, source, out, audit, warm = sys.argv[1:6]
loaded = ModelRegistry(store).load_active("pump-1")


def peak_mb():
    # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's peak across fork and exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(path, batch_id, sink_dir, results):
    with open(path, "rb") as binary:
        return score_file(binary, loaded, CsvAuditSink(sink_dir), batch_id=batch_id,
                          channel="cli", principal="memory-test", results_path=results,
                          errors_path=results + ".errors.csv")

run(warm, "warm", audit + "-warm", out + ".warm")  # every code path loaded before the baseline
baseline = peak_mb()
summary = run(source, "big", audit, out)
print(summary.rows_read, summary.scored, summary.rejected, round(baseline), round(peak_mb()))
"""


def write_million_rows(path):
    """Real SKAB readings repeated to 1,000,000 rows, one broken row every 100,000."""
    with open(NORMAL_CSV, encoding="utf-8") as handle:
        header, *body = handle.read().splitlines()
    with open(path, "w", encoding="utf-8") as out:
        out.write(header + "\n")
        for block in range(ROWS // len(body)):
            lines = list(body)
            if block % 250 == 0:
                lines[0] = lines[0].replace(";", ";broken", 1)
            out.write("\n".join(lines) + "\n")


def count_lines(folder):
    total = 0
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as handle:
            total += sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    return total


def test_a_million_rows_are_scored_and_audited_within_bounded_memory(paths, tmp_path):
    source = str(tmp_path / "million.csv")
    write_million_rows(source)
    audit = str(tmp_path / "audit")
    out = str(tmp_path / "results.csv")
    probe = subprocess.run([sys.executable, "-c", PROBE, paths["MODEL_STORE"], source, out, audit,
                            NORMAL_CSV], cwd=ROOT, capture_output=True, text=True, timeout=1800,
                           env={**os.environ, "PYTHONPATH": ROOT})
    assert probe.returncode == 0, probe.stderr
    rows_read, scored, rejected, baseline, peak = map(int, probe.stdout.split())
    assert (rows_read, scored, rejected) == (ROWS, ROWS - 10, 10)  # line 2, 100002, ...
    assert peak - baseline < PEAK_ABOVE_BASELINE_MB, f"peak {peak} MB, baseline {baseline} MB"
    assert count_lines(audit) == scored + len(os.listdir(audit))  # one header per day file
    with open(out, "rb") as handle:
        assert sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) \
            == scored + 1
