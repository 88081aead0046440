"""Stream follower: new lines scored once, partial lines wait, rotation, truncation, crashes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORDS
from tests.support.postgres import fresh_database_url, record_logs_of
from webapp.services import schema
from webapp.services.alarms import AlarmPolicy, AlarmTracker, Verdict, read_events
from webapp.services.audit import CsvAuditSink
from webapp.services.audit_db import DatabaseAuditSink
from webapp.services.batch.scorer import score_file
from webapp.services.csvfiles import read_table
from webapp.services.registry import ActiveModels, ModelRegistry
from webapp.services.stream.checkpoint import StreamError, stream_dir, stream_id
from webapp.services.stream.follower import StreamFollower
from webapp.services.training import train_version

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SKAB_FILE = os.path.join(ROOT, "data", "skab", "valve1", "0.csv")
HEADER = "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;" \
         "Thermocouple;Voltage;Volume Flow RateRMS\n"
NORMAL = [0.2024, 0.2752, 2.17, 0.3826, 90.65, 26.85, 238.85, 122.66]
# Vibration and current three times their usual level: plausible, and clearly abnormal.
ABNORMAL = [value * 3 if index < 3 else value for index, value in enumerate(NORMAL)]


def reading(index, values=NORMAL):
    """One ';' line whose datetime encodes `index`, so that audit rows name their line."""
    cells = ";".join(f"{value:.6g}" if isinstance(value, float) else str(value) for value in values)
    return f"2026-01-01 00:{index // 60:02d}:{index % 60:02d}.{index:06d};{cells}\n"


def normal_lines(count, start=0):
    """`count` plausible readings with a little noise (deterministic)."""
    noise = np.random.default_rng(start).normal(0, 0.002, size=(count, len(NORMAL)))
    return [reading(start + i, [v * (1 + e) for v, e in zip(NORMAL, row, strict=True)])
            for i, row in enumerate(noise)]


def audit_rows(paths, sid=None):
    """Every stream audit row (of stream `sid` when given), oldest first."""
    directory = os.path.join(paths["LOG_DIR"], "audit")
    rows = [row for row in _all_database_rows(paths) if row["channel"] == "stream"]
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name), encoding="utf-8", newline="") as handle:
            rows += [row for row in csv.DictReader(handle) if row["channel"] == "stream"]
    return [row for row in rows if sid is None or row["batch_id"] == sid]


def error_rows(paths, path, asset="pump-1"):
    log = os.path.join(stream_dir(paths["LOG_DIR"], stream_id(path, asset)), "errors.csv")
    if not os.path.exists(log):
        return []
    with open(log, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def audit_sink(paths):
    """The store create_app would choose: PostgreSQL when the test runs on it, else CSV."""
    if paths.get("DATABASE_URL"):
        schema.upgrade(paths["DATABASE_URL"])
        return DatabaseAuditSink(paths["DATABASE_URL"])
    return CsvAuditSink(os.path.join(paths["LOG_DIR"], "audit"))


def _all_database_rows(paths):
    if not paths.get("DATABASE_URL"):
        return []
    from webapp.services import database
    from webapp.services.audit_db import audit
    with database.engine(paths["DATABASE_URL"]).connect() as connection:
        return [row._asdict() for row in connection.execute(
            sa.select(audit).order_by(audit.c.id))]


@pytest.fixture
def database_url(request):
    """SQLite and CSV files unless a test asks for PostgreSQL (parametrize indirect)."""
    return fresh_database_url(request) if hasattr(request, "param") else None


def make_follower(paths, path, **options):
    registry = ModelRegistry(paths["MODEL_STORE"])
    os.makedirs(paths["LOG_DIR"], exist_ok=True)
    follower = StreamFollower(str(path), "pump-1", ActiveModels(registry), audit_sink(paths),
                              paths["LOG_DIR"], "stream:tests", settle_seconds=0,
                              logs=record_logs_of(paths), **options)
    follower.start()
    return follower


def drain(follower):
    """Poll until nothing is left, as --once does."""
    while follower.poll():
        pass


def append(path, text, mode="a"):
    with open(path, mode, encoding="utf-8", newline="") as handle:
        handle.write(text)


def timestamps(rows):
    return [row["reading_timestamp"] for row in rows]


def test_new_complete_lines_are_scored_and_a_partial_line_waits(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(6)
    append(sensor_file, HEADER + "".join(lines[:3]) + lines[3][:20])
    follower = make_follower(paths, sensor_file)
    drain(follower)
    assert len(audit_rows(paths)) == 3
    append(sensor_file, lines[3][20:] + lines[4])
    drain(follower)
    rows = audit_rows(paths)
    assert timestamps(rows) == [line.split(";")[0] for line in lines[:5]]
    assert {row["principal"] for row in rows} == {"stream:tests"}
    assert {row["model_version"] for row in rows} == {"v1"}
    assert rows[-1]["request_id"].startswith(follower.sid + "-s1-")
    follower.stop()
    assert "5 scored, 0 rejected" in follower.summary()


def test_a_comma_file_with_a_bom_and_crlf_line_ends_is_read_like_a_plain_one(paths, tmp_path):
    sensor_file = tmp_path / "export.csv"
    lines = normal_lines(4)
    text = HEADER + "".join(lines)
    append(sensor_file, "\ufeff" + text.replace(";", ",").replace("\n", "\r\n"))
    drain(make_follower(paths, sensor_file))
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]


def test_a_file_that_does_not_exist_yet_is_waited_for(paths, tmp_path):
    sensor_file = tmp_path / "later.csv"
    follower = make_follower(paths, sensor_file)
    assert follower.poll() is False
    append(sensor_file, HEADER + "".join(normal_lines(2)))
    drain(follower)
    assert len(audit_rows(paths)) == 2


def test_bad_lines_are_reported_with_their_line_number_and_the_rest_goes_on(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    good = normal_lines(4)
    bad_value = reading(90, NORMAL[:2] + ["abc"] + NORMAL[3:])
    out_of_range = reading(91, NORMAL[:6] + [9999.0] + NORMAL[7:])
    append(sensor_file, HEADER + good[0] + bad_value + good[1] + "1;2;3\n" + out_of_range
           + good[2] + "\n" + good[3])
    follower = make_follower(paths, sensor_file)
    drain(follower)
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in good]
    errors = {(row["line"], row["field"], row["code"]) for row in error_rows(paths, sensor_file)}
    assert errors == {("3", "Current", "not_a_number"), ("5", "", "malformed"),
                      ("6", "Voltage", "out_of_range")}
    assert "3 rejected" in follower.summary()


def test_a_header_without_the_sensor_columns_stops_with_a_clear_error(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    append(sensor_file, "datetime;Current\n2026-01-01;2.1\n")
    follower = make_follower(paths, sensor_file)
    with pytest.raises(StreamError, match="lacks the sensor columns Accelerometer1RMS"):
        follower.poll()
    assert audit_rows(paths) == []


def test_a_second_follower_of_the_same_stream_is_refused(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    append(sensor_file, HEADER + "".join(normal_lines(3)))
    first = make_follower(paths, sensor_file)
    with pytest.raises(StreamError, match=f"already being followed \\(process {os.getpid()}\\)"):
        make_follower(paths, sensor_file)
    first.stop()
    make_follower(paths, sensor_file).stop()


def test_rotation_finishes_the_old_file_then_follows_the_new_one(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(9)
    append(sensor_file, HEADER + "".join(lines[:3]))
    follower = make_follower(paths, sensor_file)
    drain(follower)
    # The logger writes two more lines (the last without its newline), then rotates.
    append(sensor_file, lines[3] + lines[4].rstrip("\n"))
    os.rename(sensor_file, tmp_path / "pump.csv.1")
    comma_lines = "".join(line.replace(";", ",") for line in lines[5:])
    append(sensor_file, HEADER.replace(";", ",") + comma_lines)
    drain(follower)
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]
    assert follower.segment.number == 2


def test_a_rotation_while_stopped_is_found_and_the_old_file_finished_first(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(9)
    append(sensor_file, HEADER + "".join(lines[:3]))
    first = make_follower(paths, sensor_file)
    drain(first)
    first.stop()
    append(sensor_file, "".join(lines[3:5]))
    os.rename(sensor_file, tmp_path / "pump-2026-01-01.csv")
    append(sensor_file, HEADER + "".join(lines[5:]))
    drain(make_follower(paths, sensor_file))
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]


def test_a_rotated_file_removed_while_stopped_is_reported_not_ignored(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(5)
    append(sensor_file, HEADER + "".join(lines[:3]))
    first = make_follower(paths, sensor_file)
    drain(first)
    first.stop()
    # The new file exists before the old one goes, so it cannot reuse the old inode.
    append(tmp_path / "new.csv", HEADER + "".join(lines[3:]))
    os.remove(sensor_file)
    os.rename(tmp_path / "new.csv", sensor_file)
    drain(make_follower(paths, sensor_file))
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]
    assert [(row["line"], row["code"]) for row in error_rows(paths, sensor_file)] == \
        [("5", "file_gone")]


def test_truncation_restarts_at_the_header_of_the_new_content(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(8)
    append(sensor_file, HEADER + "".join(lines[:5]))
    follower = make_follower(paths, sensor_file)
    drain(follower)
    append(sensor_file, HEADER + "".join(lines[5:]), mode="w")
    drain(follower)
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]


def test_a_file_rewritten_past_the_old_offset_between_two_looks_is_read_from_its_header(
        paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(20)
    append(sensor_file, HEADER + "".join(lines[:3]))
    follower = make_follower(paths, sensor_file)
    drain(follower)
    append(sensor_file, HEADER + "".join(lines[3:]), mode="w")  # same inode, longer content
    drain(follower)
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]
    follower.stop()
    # The same while the follower is stopped.
    append(sensor_file, HEADER + "".join(normal_lines(25, start=100)), mode="w")
    drain(make_follower(paths, sensor_file))
    assert len(audit_rows(paths)) == 20 + 25


def test_a_restart_resumes_after_the_checkpoint_without_scoring_again(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(10)
    append(sensor_file, HEADER + "".join(lines[:4]))
    first = make_follower(paths, sensor_file)
    drain(first)
    first.stop()
    append(sensor_file, "".join(lines[4:]))
    second = make_follower(paths, sensor_file)
    drain(second)
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines]


def test_from_end_skips_what_a_new_stream_finds_in_the_file(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(5)
    append(sensor_file, HEADER + "".join(lines[:3]))
    follower = make_follower(paths, sensor_file, from_end=True)
    drain(follower)
    append(sensor_file, "".join(lines[3:]))
    drain(follower)
    assert timestamps(audit_rows(paths)) == [line.split(";")[0] for line in lines[3:]]


class Crash(Exception):
    """Stands for kill -9 at a precise point of a poll."""


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("crash_point", ["before_audit", "after_audit", "after_alarms"])
def test_a_crash_at_any_point_of_a_poll_loses_nothing_and_repeats_nothing(
        paths, tmp_path, monkeypatch, crash_point):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(120)
    bad = reading(99, NORMAL[:3] + ["x"] + NORMAL[4:])
    abnormal = [reading(100 + i, ABNORMAL) for i in range(6)]
    append(sensor_file, HEADER + "".join(lines[:10]))
    policy = AlarmPolicy(3, 5, 4)
    follower = make_follower(paths, sensor_file, policy=policy)
    drain(follower)
    append(sensor_file, "".join(lines[10:15]) + bad + "".join(abnormal) + "".join(lines[15:20]))

    def crash(*args, **kwargs):
        raise Crash()
    target = {"before_audit": (follower.sink, "write"),
              "after_audit": (follower, "_remember"),
              "after_alarms": (follower, "save_checkpoint")}[crash_point]
    monkeypatch.setattr(*target, crash)
    with pytest.raises(Crash):
        follower.poll()
    monkeypatch.undo()
    # The crashed process is gone: the kernel closes its file and releases its lock.
    follower.handle.close()
    follower.lock.close()
    append(sensor_file, "".join(lines[20:]))
    resumed = make_follower(paths, sensor_file, policy=policy)
    drain(resumed)
    # After the audit write, the resumed follower takes those readings from the audit.
    assert (resumed.totals.replayed == 16) == (crash_point != "before_audit")
    expected = [line.split(";")[0] for line in lines[:15] + abnormal + lines[15:]]
    assert timestamps(audit_rows(paths)) == expected
    assert [row["line"] for row in error_rows(paths, sensor_file)] == ["17"]
    events = [(row["event"], row["alarm_id"])
              for row in read_events(record_logs_of(paths))]
    assert [kind for kind, _ in events] == ["open", "close"]
    assert events[0][1] == events[1][1] == f"{resumed.sid}-18"


def activate_skab_model(paths):
    """pump-1 v2, calibrated on the first 400 readings of the SKAB file (the SKAB protocol)."""
    registry = ModelRegistry(paths["MODEL_STORE"])
    version, _ = train_version(registry, "pump-1", SKAB_FILE, normal_rows=400, created_by="tests")
    registry.activate("pump-1", version)
    return version


def test_stream_scores_and_alarms_equal_those_of_the_whole_file_at_once(paths, tmp_path):
    activate_skab_model(paths)
    sensor_file = tmp_path / "skab.csv"
    with open(SKAB_FILE, encoding="utf-8") as handle:
        content = handle.readlines()
    append(sensor_file, content[0])
    follower = make_follower(paths, sensor_file, max_lines=7)
    # The file arrives in uneven pieces, as a logger writes it.
    for start in range(1, len(content), 97):
        append(sensor_file, "".join(content[start:start + 97]))
        drain(follower)
    streamed = audit_rows(paths)
    loaded = ActiveModels(ModelRegistry(paths["MODEL_STORE"])).get("pump-1")
    reference = loaded.model.score(read_table(SKAB_FILE)[list(loaded.model.columns)].astype(float))
    assert len(streamed) == len(content) - 1
    np.testing.assert_allclose([float(row["score"]) for row in streamed],
                               reference.scores, rtol=1e-6, atol=1e-6)
    assert [row["anomaly"] == "1" for row in streamed] == list(reference.anomaly)
    # The same verdicts through the alarm logic give the same alarms as the stream raised.
    tracker = AlarmTracker(AlarmPolicy(), "pump-1", follower.sid)
    expected = []
    verdicts = zip(reference.scores, reference.anomaly, strict=True)
    for number, (score, anomaly) in enumerate(verdicts, 1):
        verdict = Verdict(score, anomaly, [], loaded.version,
                          reading_id=f"{follower.sid}-{number}")
        expected += [(event["event"], event["alarm_id"]) for event in tracker.update(verdict)]
    raised = [(row["event"], row["alarm_id"])
              for row in read_events(record_logs_of(paths))]
    assert raised == expected and ("close", raised[0][1]) in raised


def test_stream_and_batch_path_agree_on_every_reading_and_every_rejected_line(paths, tmp_path):
    with open(SKAB_FILE, encoding="utf-8") as handle:
        content = handle.readlines()[:600]
    # Line 51 has text in a number, line 301 is blank (skipped), line 302 lacks cells.
    content[50] = content[50].split(";", 2)[0] + ";abc;" + content[50].split(";", 2)[2]
    content[300] = "\n"
    content[301] = ";".join(content[301].split(";")[:4]) + "\n"
    sensor_file = tmp_path / "skab.csv"
    append(sensor_file, "".join(content))
    loaded = ActiveModels(ModelRegistry(paths["MODEL_STORE"])).get("pump-1")
    results, errors = str(tmp_path / "results.csv"), str(tmp_path / "errors.csv")
    with open(sensor_file, "rb") as binary:
        score_file(binary, loaded, CsvAuditSink(str(tmp_path / "batch-audit")), batch_id="b1",
                   channel="batch", principal="tests", results_path=results,
                   errors_path=errors, chunk_rows=64)
    batch = pd.read_csv(results, sep=",", dtype={"datetime": str})
    follower = make_follower(paths, sensor_file, max_lines=33)
    drain(follower)
    streamed = audit_rows(paths)
    assert timestamps(streamed) == batch["datetime"].tolist()
    np.testing.assert_allclose([float(row["score"]) for row in streamed], batch["score"],
                               rtol=1e-6, atol=1e-6)
    assert [int(row["anomaly"]) for row in streamed] == batch["predicted_anomaly"].tolist()
    batch_lines = sorted({int(line) for line in pd.read_csv(errors)["line"]})
    assert sorted({int(row["line"]) for row in error_rows(paths, sensor_file)}) == batch_lines


def test_a_stream_that_arrives_one_line_per_poll_is_scored_as_a_sequence(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(30)
    append(sensor_file, HEADER)
    follower = make_follower(paths, sensor_file)
    for line in lines:
        append(sensor_file, line)
        drain(follower)
    loaded = ActiveModels(ModelRegistry(paths["MODEL_STORE"])).get("pump-1")
    reference = loaded.model.score(read_table(str(sensor_file))[list(loaded.model.columns)]
                                   .astype(float), single=False)
    streamed = audit_rows(paths)
    np.testing.assert_allclose([float(row["score"]) for row in streamed], reference.scores,
                               rtol=1e-6, atol=1e-6)
    assert {row["threshold"] for row in streamed} == {str(round(loaded.model.threshold, 6))}


def test_a_model_switch_is_picked_up_and_each_row_names_its_version(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(6)
    append(sensor_file, HEADER + "".join(lines[:3]))
    follower = make_follower(paths, sensor_file)
    drain(follower)
    version = activate_skab_model(paths)
    append(sensor_file, "".join(lines[3:]))
    drain(follower)
    assert [row["model_version"] for row in audit_rows(paths)] == ["v1"] * 3 + [version] * 3


def flask_env(paths):
    return {**os.environ, "VIGIE_MODEL_STORE": paths["MODEL_STORE"],
            "VIGIE_LOG_DIR": paths["LOG_DIR"], "VIGIE_INSTANCE_DIR": paths["INSTANCE_DIR"],
            "VIGIE_ADMIN_PASSWORD": PASSWORDS["admin"]}


def wait_for_audit_rows(paths, count, process, limit=180):
    """Return once the stream has `count` audit rows (start-up is slow on a loaded machine)."""
    deadline = time.monotonic() + limit
    while len(audit_rows(paths)) < count:
        assert process.poll() is None, "the follower stopped on its own"
        assert time.monotonic() < deadline, f"fewer than {count} rows after {limit} s"
        time.sleep(0.02)


def stream_command(path, *options):
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    return [flask, "--app", "webapp", "stream", str(path), "--asset", "pump-1", *options]


def test_kill_9_in_the_middle_of_a_run_then_resume_loses_and_repeats_nothing(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    lines = normal_lines(4000)
    lines[1234] = reading(1234, NORMAL[:4] + [""] + NORMAL[5:])
    append(sensor_file, HEADER + "".join(lines))
    env = flask_env(paths)
    process = subprocess.Popen(stream_command(sensor_file, "--max-lines", "20",
                                              "--poll-interval", "0.05"),
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_audit_rows(paths, 200, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    scored_before_kill = len(audit_rows(paths))
    assert 200 <= scored_before_kill < len(lines) - 1, "the kill must come in the middle"
    done = subprocess.run(stream_command(sensor_file, "--once"), env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = [line.split(";")[0] for i, line in enumerate(lines) if i != 1234]
    assert timestamps(audit_rows(paths)) == expected
    assert [row["line"] for row in error_rows(paths, sensor_file)] == ["1236"]
    assert done.stdout.startswith(f"stream {stream_id(sensor_file, 'pump-1')}: ")


def test_sigterm_stops_cleanly_with_a_checkpoint_and_a_summary(paths, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    append(sensor_file, HEADER + "".join(normal_lines(5)))
    # A long poll interval: the stop must not wait for the end of the interval.
    process = subprocess.Popen(stream_command(sensor_file, "--poll-interval", "600"),
                               env=flask_env(paths), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_audit_rows(paths, 5, process)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # a failed test must not leave a follower behind
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "5 lines read, 5 scored, 0 rejected" in out
    checkpoint = os.path.join(stream_dir(paths["LOG_DIR"], stream_id(sensor_file, "pump-1")),
                              "checkpoint.json")
    with open(checkpoint, encoding="utf-8") as handle:
        assert json.load(handle)["segment"]["line"] == 6


def test_cli_refuses_impossible_alarm_settings_and_unknown_assets(runner, tmp_path):
    result = runner.invoke(args=["stream", str(tmp_path / "x.csv"), "--asset", "pump-1",
                                 "--alarm-k", "20", "--alarm-n", "10", "--once"])
    assert result.exit_code == 1 and "K must be between 1 and N" in result.output
    result = runner.invoke(args=["stream", str(tmp_path / "x.csv"), "--asset", "pump-9",
                                 "--once"])
    assert result.exit_code == 1 and "pump-9" in result.output


def test_cli_once_scores_a_file_and_reports_alarms(runner, app, tmp_path):
    sensor_file = tmp_path / "pump.csv"
    abnormal = [reading(100 + i, ABNORMAL) for i in range(12)]
    append(sensor_file, HEADER + "".join(normal_lines(10)) + "".join(abnormal))
    result = runner.invoke(args=["stream", str(sensor_file), "--asset", "pump-1", "--once",
                                 "--alarm-k", "3", "--alarm-n", "5"])
    assert result.exit_code == 0, result.output
    assert "22 lines read, 22 scored, 0 rejected, 1 alarms opened, 0 closed" in result.output
    events = read_events(app.extensions["vigie.logs"])
    assert [row["event"] for row in events] == ["open"]
    assert events[0]["asset"] == "pump-1" and events[0]["model_version"] == "v1"
