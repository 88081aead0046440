"""Vigie's API beside two bare anchors, in one run: bare Flask, and bare Flask + CSV audit.

Three gunicorn servers (2 workers each) on 127.0.0.1 and free ports: Vigie as `make run` serves
it (an operator API key), and tests/benchmarks/bare_app.py with and without its audit line per
reading. A load client (wrk, keep-alive) measures three figures on each, interleaved: for each
of 3 repetitions, each figure is taken on the three servers one after the other. Medians are
printed beside the anchor with the ratio, since absolute times move with the machine's load.
"""

import contextlib
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys


from tests.benchmarks.bare_app import fit_anchor
from tests.benchmarks.bench_api import prepare as prepare_vigie
from tests.support.servers import free_port, gunicorn_server, stop, wait_until_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
REPETITIONS = 3
SECONDS = 4  # of load per figure, per server, per repetition
SEQUENCE_LENGTH = 1000
# (figure key, readings per request, wrk threads, connections)
FIGURES = (("one_p50", 1, 1, 1), ("eight_rps", 1, 2, 8), ("thousand_p50", SEQUENCE_LENGTH, 1, 1))
TARGETS = ("vigie", "bare", "bare_audit")

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{key_line}
local body = io.open("{body}", "rb")
wrk.body = body:read("*a")
body:close()
"""


@contextlib.contextmanager
def bare_server(workdir, model_path, audit):
    """The bare anchor under gunicorn (2 workers); yields its port."""
    port = free_port()
    env = {**os.environ, "BARE_MODEL": model_path, "PYTHONPATH": ROOT,
           "BARE_AUDIT": os.path.join(workdir, "bare-audit.csv") if audit else ""}
    with open(os.path.join(workdir, f"bare-{port}.log"), "ab") as log:
        process = subprocess.Popen(
            [GUNICORN, "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "tests.benchmarks.bare_app:create_app()"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process)
        yield port
    finally:
        stop(process)


def wrk(port, path, script, threads, connections, seconds=SECONDS):
    """Run wrk once; returns (p50 ms, requests/s, non-2xx responses + socket errors)."""
    done = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                           "--latency", "-s", script, f"http://127.0.0.1:{port}{path}"],
                          capture_output=True, text=True, timeout=seconds + 60, check=True)
    out = done.stdout
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    failed += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return float(p50.group(1)) * scale, rate, failed


def write_scripts(workdir, frame, key):
    """One wrk script per (target, readings per request)."""
    scripts = {}
    for count in {figure[1] for figure in FIGURES}:
        readings = frame.iloc[:count].to_dict("records")
        for target in TARGETS:
            body_path = os.path.join(workdir, f"{target}-{count}.json")
            body = {"asset": "pump-1", "readings": readings} if target == "vigie" \
                else {"readings": readings}
            with open(body_path, "w", encoding="utf-8") as handle:
                json.dump(body, handle)
            key_line = f'wrk.headers["X-API-Key"] = "{key}"' if target == "vigie" else ""
            script = os.path.join(workdir, f"{target}-{count}.lua")
            with open(script, "w", encoding="utf-8") as handle:
                handle.write(WRK_SCRIPT.format(key_line=key_line, body=body_path))
            scripts[target, count] = script
    return scripts


def prepare(workdir):
    """Vigie's store, paths and key; the anchor's pickle; the readings sent."""
    _app, paths, key, frame = prepare_vigie(workdir)
    model_path = os.path.join(workdir, "anchor.pkl")
    with open(model_path, "wb") as handle:
        pickle.dump(fit_anchor(frame), handle)
    return paths, key, frame, model_path


def measure(ports, scripts):
    """figures[target][figure] = list of values, one per repetition, interleaved."""
    paths = {"vigie": "/api/v1/predict", "bare": "/predict", "bare_audit": "/predict"}
    figures = {target: {figure[0]: [] for figure in FIGURES} for target in TARGETS}
    failed = 0
    for target in TARGETS:  # warm-up: every worker loads its model and code paths
        for _, count, threads, connections in FIGURES:
            failed += wrk(ports[target], paths[target], scripts[target, count], threads,
                          connections, seconds=1)[2]
    for _ in range(REPETITIONS):
        for name, count, threads, connections in FIGURES:
            for target in TARGETS:
                p50, rate, bad = wrk(ports[target], paths[target], scripts[target, count],
                                     threads, connections)
                figures[target][name].append(rate if name == "eight_rps" else p50)
                failed += bad
    return figures, failed


def rows_from(figures, failed):
    """Rows for run.py: each Vigie median beside its anchors' medians, with the ratios."""
    cases = {"one_p50": ("1 reading, 1 client (wrk, keep-alive)", "p50 latency", "ms"),
             "eight_rps": ("1 reading, 8 clients (wrk, keep-alive)", "throughput", "req/s"),
             "thousand_p50": (f"{SEQUENCE_LENGTH:,} readings in one request, 1 client",
                              "p50 latency", "ms")}
    rows = []
    for name, (case, figure, unit) in cases.items():
        median = {target: statistics.median(figures[target][name]) for target in TARGETS}
        digits = 0 if unit == "req/s" else 2
        for target in TARGETS:
            ratio = ", ".join(f"{median[target] / median[anchor]:.2f}x {anchor}"
                              for anchor in ("bare", "bare_audit") if anchor != target)
            rows.append({"case": f"{case}: {target}", "figure": figure,
                         "value": round(median[target], digits), "unit": unit,
                         "note": ratio if target == "vigie" else
                         f"median of {REPETITIONS}: " + ", ".join(
                             f"{value:.{digits}f}" for value in figures[target][name])})
    rows.append({"case": "wrk failures (non-2xx, socket errors)", "figure": "count",
                 "value": failed, "unit": "", "note": "must be 0"})
    return rows


def run(workdir):
    """Rows for tests/benchmarks/run.py: case, figure, value, unit, note."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is needed for the anchors benchmark: apt-get install -y wrk")
    paths, key, frame, model_path = prepare(workdir)
    scripts = write_scripts(workdir, frame, key)
    with gunicorn_server(paths, workers=2) as (url, _), \
            bare_server(workdir, model_path, audit=False) as bare_port, \
            bare_server(workdir, model_path, audit=True) as audit_port:
        ports = {"vigie": int(url.rsplit(":", 1)[1]), "bare": bare_port,
                 "bare_audit": audit_port}
        figures, failed = measure(ports, scripts)
    return rows_from(figures, failed)
