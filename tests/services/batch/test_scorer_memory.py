"""A 1,000,000-row file goes through the batch path (results + audit) within bounded memory."""

import os

from tests.conftest import NORMAL_CSV
from tests.support.batch_probe import run_probe

ROWS = 1_000_000
# Reading the whole file at once as text cells takes well over 1 GB; chunks of 20,000 rows
# need about 100 MB above the baseline of the loaded libraries and model.
PEAK_ABOVE_BASELINE_MB = 300


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
    probe = run_probe(paths["MODEL_STORE"], source, out, audit, NORMAL_CSV)
    rows_read, scored, rejected = probe["rows_read"], probe["scored"], probe["rejected"]
    baseline, peak = probe["baseline_mb"], probe["peak_mb"]
    assert (rows_read, scored, rejected) == (ROWS, ROWS - 10, 10)  # line 2, 100002, ...
    assert peak - baseline < PEAK_ABOVE_BASELINE_MB, f"peak {peak} MB, baseline {baseline} MB"
    assert count_lines(audit) == scored + len(os.listdir(audit))  # one header per day file
    with open(out, "rb") as handle:
        assert sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) \
            == scored + 1
