"""Watch folder (`score --watch DIR`): each dropped file scored exactly once, across restarts."""

import glob
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import NORMAL_CSV, read_audit_table
from webapp.services.audit import CsvAuditSink
from webapp.services.batch.watch import WatchBusy, WatchFolder
from webapp.services.registry import ActiveModels, ModelRegistry

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def audit_rows(audit_dir):
    return read_audit_table(audit_dir)


def complete_lines(audit_dir):
    """Audit rows written so far, counted without parsing (a write may be under way)."""
    total = 0
    for name in glob.glob(os.path.join(audit_dir, "predictions-*.csv")):
        with open(name, "rb") as handle:
            total += handle.read().count(b"\n") - 1
    return total


def write_export(path, repeats=1, broken_lines=()):
    """A real SKAB export, `repeats` times as long, with some lines broken on purpose."""
    lines = open(NORMAL_CSV, encoding="utf-8").read().splitlines()
    body = lines[1:] * repeats
    for index in broken_lines:
        body[index] = body[index].replace(";", ";bad", 1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join([lines[0], *body]) + "\n")
    return len(body) - len(broken_lines)


def files(root, kind, pattern="*"):
    return sorted(glob.glob(os.path.join(root, kind, "*", pattern)))


@pytest.fixture
def watcher(paths, tmp_path):
    registry = ModelRegistry(paths["MODEL_STORE"])
    audit_dir = os.path.join(paths["LOG_DIR"], "audit")
    folder = WatchFolder(str(tmp_path / "watch"), ActiveModels(registry), CsvAuditSink(audit_dir),
                         audit_dir=audit_dir, principal="cli:test", chunk_rows=150,
                         settle_seconds=0.05)
    folder.prepare(registry.assets())
    yield folder
    folder.close()


def test_once_scores_good_files_and_rejects_bad_ones(watcher):
    root = watcher.root
    expected = write_export(os.path.join(root, "incoming", "pump-1", "day1.csv"),
                            broken_lines=(10, 20))
    write_export(os.path.join(root, "incoming", "pump-1", "day2.csv"))
    with open(os.path.join(root, "incoming", "pump-1", "nocolumns.csv"), "w") as handle:
        handle.write("a;b\n1;2\n")
    write_export(os.path.join(root, "incoming", "ghost", "x.csv"))  # no model for 'ghost'
    for partial in (".day3.csv", "day4.csv.part", "day5.tmp"):
        write_export(os.path.join(root, "incoming", "pump-1", partial))
    outcomes = {outcome.name: outcome for outcome in watcher.run_once()}
    assert outcomes["day1.csv"].state == "scored" and outcomes["day2.csv"].state == "scored"
    assert outcomes["nocolumns.csv"].state == "rejected" and outcomes["x.csv"].state == "rejected"
    assert sorted(os.listdir(os.path.join(root, "incoming", "pump-1"))) == [
        ".day3.csv", "day4.csv.part", "day5.tmp"]  # still being written: left alone
    assert len(files(root, "archive")) == 2 and not files(root, "processing")
    day1 = outcomes["day1.csv"].batch_id
    results = pd.read_csv(os.path.join(root, "results", "pump-1", f"day1.{day1}.results.csv"))
    errors = pd.read_csv(os.path.join(root, "results", "pump-1", f"day1.{day1}.errors.csv"))
    assert len(results) == expected and errors["line"].tolist() == [12, 22]
    report = files(root, "rejected", "nocolumns.*.errors.csv")
    assert "missing sensor columns" in open(report[0]).read()
    assert "no model" in open(files(root, "rejected", "x.*.errors.csv")[0]).read()
    audit = audit_rows(watcher.audit_dir)
    assert audit["batch_id"].value_counts().to_dict() == {day1: expected,
                                                          outcomes["day2.csv"].batch_id: 400}
    assert watcher.run_once() == []  # nothing is scored twice


def test_a_file_still_growing_is_not_picked_up(watcher):
    path = os.path.join(watcher.root, "incoming", "pump-1", "growing.csv")
    write_export(path)
    watcher._last_look = watcher.look()
    with open(path, "a") as handle:  # the exporter is still writing
        handle.write("2020-02-08 14:00:00;0.2;0.27")
    assert watcher.ready_files(wait=False) == []
    with open(path, "a") as handle:
        handle.write(";2.1;0.38;90.6;26.8;238.8;122.6\n")
    assert watcher.ready_files(wait=False) == []
    assert watcher.ready_files(wait=False) == [path]  # unchanged since the previous look


def test_a_second_watcher_on_the_same_folder_is_refused(watcher):
    other = WatchFolder(watcher.root, watcher.models, watcher.sink, audit_dir=watcher.audit_dir,
                        principal="cli:other", chunk_rows=100)
    with pytest.raises(WatchBusy):
        other.prepare()


def test_exactly_once_across_a_killed_watcher(paths, tmp_path):
    """Kill -9 the watcher in the middle of a file, start it again: nothing lost or doubled."""
    root = str(tmp_path / "watch")
    env = {**os.environ, "VIGIE_MODEL_STORE": paths["MODEL_STORE"],
           "VIGIE_LOG_DIR": paths["LOG_DIR"], "VIGIE_INSTANCE_DIR": paths["INSTANCE_DIR"],
           "VIGIE_BATCH_CHUNK_ROWS": "200", "PYTHONPATH": ROOT}
    expected = {}
    for number in range(4):
        name = f"export{number}.csv"
        expected[name] = write_export(os.path.join(root, "incoming", "pump-1", name), repeats=30,
                                      broken_lines=(5, 7000))
    command = [sys.executable, "-m", "flask", "--app", "webapp", "score", "--watch", root]
    watcher = subprocess.Popen(command + ["--poll", "0.2"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    audit_dir = os.path.join(paths["LOG_DIR"], "audit")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for a file half-way through
            done = len(files(root, "archive"))
            audited = complete_lines(audit_dir)  # the watcher may be appending right now
            if done >= 1 and files(root, "processing", "*.csv") and \
                    audited > sum(list(expected.values())[:done]) + 1000:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the watcher never reached the middle of a file")
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert files(root, "processing", "*.json"), "the kill should leave a claimed file behind"
    restarted = subprocess.run(command + ["--once"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    assert not files(root, "incoming", "*.csv") and not files(root, "processing")
    archived = files(root, "archive")
    assert len(archived) == 4
    audit = audit_rows(audit_dir)
    counts = audit["batch_id"].value_counts().to_dict()
    assert len(counts) == 4  # one batch id per input: the restarted file kept its batch id
    for path in archived:
        name, batch_id = os.path.basename(path).split(".")[0] + ".csv", path.split(".")[-2]
        results = pd.read_csv(os.path.join(root, "results", "pump-1",
                                           f"{name[:-4]}.{batch_id}.results.csv"))
        assert len(results) == expected[name] == counts[batch_id], name
    assert set(audit["channel"]) == {"cli"}


def test_symbolic_links_are_never_followed(watcher, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.csv"
    write_export(str(secret))
    os.symlink(secret, os.path.join(watcher.root, "incoming", "pump-1", "link.csv"))
    os.makedirs(os.path.join(watcher.root, "incoming"), exist_ok=True)
    os.symlink(outside, os.path.join(watcher.root, "incoming", "linked-asset"))
    outcomes = {outcome.name: outcome for outcome in watcher.run_once()}
    assert list(outcomes) == ["link.csv"] and outcomes["link.csv"].state == "rejected"
    assert "symbolic link" in outcomes["link.csv"].message
    assert secret.exists() and os.listdir(outside) == ["secret.csv"]  # nothing moved from outside
    assert audit_rows(watcher.audit_dir).empty  # nothing read through the link
