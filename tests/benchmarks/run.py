"""Run every benchmark module (tests/benchmarks/bench_*.py) and print one table.

Each module exposes `run(workdir) -> list[dict]` with keys: case, figure, value, unit, note.
The table is printed and written to test-artifacts/bench.json so docs/benchmarks.md can quote it.
"""

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# Benchmarks build model stores outside an app: one signing key for the stores and the apps.
os.environ.setdefault("VIGIE_MODEL_SIGNING_KEY", "bench-model-signing-key")


def bench_modules(selected):
    """Names of the benchmark modules, optionally filtered by substring."""
    names = sorted(m.name for m in pkgutil.iter_modules([HERE]) if m.name.startswith("bench_"))
    return [n for n in names if not selected or any(s in n for s in selected)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="run only modules whose name contains these")
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    rows = []
    for name in bench_modules(args.only):
        module = importlib.import_module(f"tests.benchmarks.{name}")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"vigie-{name}-") as workdir:
            for row in module.run(workdir):
                rows.append({"module": name, **row})
                print(f"{row['case']:<55} {row['figure']:<18} {row['value']:>12} "
                      f"{row.get('unit', ''):<8} {row.get('note', '')}", flush=True)
        print(f"# {name} took {time.perf_counter() - started:.1f} s", flush=True)
    os.makedirs(os.path.join(ROOT, "test-artifacts"), exist_ok=True)
    with open(os.path.join(ROOT, "test-artifacts", "bench.json"), "w") as handle:
        json.dump({"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                   "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
