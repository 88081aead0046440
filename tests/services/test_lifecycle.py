"""Model switches as services and from the CLI: events, rollback history, locks, integrity."""

import csv
import multiprocessing
import os

import pytest

from tests.conftest import NORMAL_CSV
from tests.support.postgres import unreachable_database_url
from webapp.services import candidates, database, model_signing
from webapp.services.lifecycle import EVENT_COLUMNS, ModelLifecycle, ReasonRequired, SwitchRefused
from webapp.services.record_log import Logs
from webapp.services.registry import InvalidName, ModelIntegrityError, ModelRegistry, UnknownVersion
from webapp.services.training import train_version


@pytest.fixture
def store(paths):
    """pump-1 with v1 (active), v2 and v3 trained on the same normal readings."""
    registry = ModelRegistry(paths["MODEL_STORE"])
    for rows in (300, 200):
        train_version(registry, "pump-1", NORMAL_CSV, rows, created_by="tests")
    return registry


@pytest.fixture
def life(store, paths):
    return ModelLifecycle(store, paths["LOG_DIR"])


def event_file_rows(paths):
    with open(os.path.join(paths["LOG_DIR"], "model_events.csv"), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


def tamper(store, asset, version):
    with open(os.path.join(store.root, asset, version, "model.pkl"), "ab") as handle:
        handle.write(b"tampered")


def test_activate_switches_and_writes_one_event(life, store, paths):
    assert life.activate("pump-1", "v2", "alice", "  after the\noverhaul ") == "v1"
    assert store.active_version("pump-1") == "v2"
    header, rows = event_file_rows(paths)
    assert tuple(header) == EVENT_COLUMNS
    assert len(rows) == 1
    row = rows[0]
    assert (row["principal"], row["asset"], row["from_version"], row["to_version"],
            row["action"], row["reason"]) == ("alice", "pump-1", "v1", "v2", "activate",
                                               "after the overhaul")
    assert row["timestamp_utc"].endswith("Z")


def test_rollback_walks_back_through_the_history(store, record_logs):
    life = ModelLifecycle(store, record_logs)
    life.activate("pump-1", "v2", "alice", "try v2")
    life.activate("pump-1", "v3", "alice", "try v3")
    assert life.previous_version("pump-1") == "v2"
    assert life.rollback("pump-1", "bob", "v3 misbehaves") == ("v3", "v2")
    assert store.active_version("pump-1") == "v2"
    assert life.rollback("pump-1", "bob", "v2 too") == ("v2", "v1")
    assert store.active_version("pump-1") == "v1"
    with pytest.raises(SwitchRefused, match="no earlier active version"):
        life.rollback("pump-1", "bob", "again")
    assert [e["action"] for e in life.events("pump-1")] == [
        "activate", "activate", "rollback", "rollback"]


def test_previous_version_survives_a_restart(store, record_logs):
    ModelLifecycle(store, record_logs).activate("pump-1", "v3", "alice", "try v3")
    restarted = ModelLifecycle(ModelRegistry(store.root), record_logs)
    assert restarted.previous_version("pump-1") == "v1"
    assert restarted.rollback("pump-1", "bob", "back")[1] == "v1"


def test_reason_is_required_and_nothing_changes_without_it(life, store, paths):
    for reason in ("", "   ", None, "x" * 501):
        with pytest.raises(ReasonRequired):
            life.activate("pump-1", "v2", "alice", reason)
    assert store.active_version("pump-1") == "v1"
    assert not os.path.exists(os.path.join(paths["LOG_DIR"], "model_events.csv"))


def test_a_switch_with_the_event_log_away_changes_nothing(store, tmp_path):
    life = ModelLifecycle(store, Logs(tmp_path, unreachable_database_url()))
    with pytest.raises(database.UNAVAILABLE):
        life.activate("pump-1", "v2", "alice", "try v2")
    assert store.active_version("pump-1") == "v1"


@pytest.mark.parametrize("switch", [
    lambda life: life.activate("pump-1", "v2", "alice", "try v2"),
    lambda life: life.set_shadow("pump-1", "v2", "alice", "watch v2")])
def test_a_pointer_is_put_back_when_its_event_cannot_be_written(life, store, monkeypatch,
                                                                 switch):
    def away(rows):
        raise database.UNAVAILABLE[0]("INSERT", {}, OSError("the database went away"))
    monkeypatch.setattr(life.log, "append", away)
    with pytest.raises(database.UNAVAILABLE):
        switch(life)
    assert store.active_version("pump-1") == "v1" and store.shadow_version("pump-1") is None
    assert life.events() == []


def test_activating_the_active_version_is_refused(life):
    with pytest.raises(SwitchRefused, match="already the active version"):
        life.activate("pump-1", "v1", "alice", "again")
    assert life.events() == []


def test_tampered_version_cannot_be_activated_and_is_shown_with_its_reason(life, store):
    tamper(store, "pump-1", "v2")
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        life.activate("pump-1", "v2", "alice", "try")
    assert store.active_version("pump-1") == "v1"
    assert life.events() == []
    row = next(r for r in life.version_rows("pump-1") if r["version"] == "v2")
    assert "does not match its manifest" in row["problem"]
    assert row["manifest"]["created_by"] == "tests"


def test_other_scikit_learn_series_is_not_loadable(life, store):
    path = os.path.join(store.root, "pump-1", "v2", "manifest.json")
    text = open(path).read()
    import json
    manifest = json.loads(text)
    manifest["versions"]["scikit-learn"] = "0.24.2"
    with open(path, "w") as handle:  # signed, as a genuine old version would be
        json.dump(model_signing.signed(manifest, store.signing_key()), handle)
    with pytest.raises(ModelIntegrityError, match="scikit-learn 0.24.2"):
        life.activate("pump-1", "v2", "alice", "try")
    row = next(r for r in life.version_rows("pump-1") if r["version"] == "v2")
    assert "retrain" in row["problem"]


@pytest.mark.parametrize("version", ["../v1", "..", "v1/../../x", "/etc/passwd", "%2e%2e",
                                     "v1%2F..", "v0", "V2", "v2 ", "", "v1\x00"])
def test_path_traversal_in_version_names_is_refused(life, store, version):
    with pytest.raises((InvalidName, SwitchRefused, UnknownVersion)):
        life.activate("pump-1", version, "alice", "try")
    with pytest.raises((InvalidName, UnknownVersion)):
        life.set_shadow("pump-1", version, "alice", "try")
    assert store.active_version("pump-1") == "v1"
    assert store.shadow_version("pump-1") is None


@pytest.mark.parametrize("asset", ["../pump-1", "pump-1/..", "/tmp", "..", "pump 1", ""])
def test_path_traversal_in_asset_names_is_refused(life, asset):
    with pytest.raises(InvalidName):
        life.activate(asset, "v2", "alice", "try")
    with pytest.raises(InvalidName):
        life.rollback(asset, "alice", "try")


def _switch_many(root, log_dir, versions, count):
    life = ModelLifecycle(ModelRegistry(root), log_dir)
    for i in range(count):
        try:
            life.activate("pump-1", versions[i % len(versions)], f"proc-{os.getpid()}", "load")
        except SwitchRefused:
            pass


def test_concurrent_switches_leave_a_consistent_history(life, store, paths):
    processes = [multiprocessing.Process(target=_switch_many, args=(
        store.root, paths["LOG_DIR"], order, 15)) for order in (["v2", "v3"], ["v3", "v1"],
                                                                ["v1", "v2"])]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    events = life.events("pump-1")
    assert events, "some switches must have happened"
    # Under the lock, each switch starts from the version the previous one ended on.
    assert events[0]["from_version"] == "v1"
    for before, after in zip(events, events[1:], strict=False):
        assert after["from_version"] == before["to_version"]
    assert store.active_version("pump-1") == events[-1]["to_version"]


def test_shadow_is_set_cleared_and_dropped_when_activated(life, store):
    life.set_shadow("pump-1", "v2", "admin", "watch v2")
    assert store.shadow_version("pump-1") == "v2"
    with pytest.raises(SwitchRefused, match="active version"):
        life.set_shadow("pump-1", "v1", "admin", "no")
    life.activate("pump-1", "v2", "admin", "v2 looked good")
    assert store.shadow_version("pump-1") is None
    assert [(e["action"], e["from_version"], e["to_version"]) for e in life.events()] == [
        ("shadow", "", "v2"), ("activate", "v1", "v2"), ("shadow-off", "v2", "")]
    life.set_shadow("pump-1", "v3", "admin", "watch v3")
    life.clear_shadow("pump-1", "admin", "enough")
    assert store.shadow_version("pump-1") is None
    with pytest.raises(SwitchRefused):
        life.clear_shadow("pump-1", "admin", "again")


# --- candidate training jobs -------------------------------------------------------------------

def upload(path, name=None):
    return (name or os.path.basename(path), open(path, "rb"))


def test_job_trains_a_version_that_is_not_active(store, life, paths):
    job = candidates.new_job(paths["LOG_DIR"], "pump-1", "analyst",
                             upload(NORMAL_CSV, "after overhaul.csv"), normal_rows=250)
    done = candidates.run_job(job, store, life, paths["LOG_DIR"])
    assert done["state"] == "done" and done["version"] == "v4"
    assert store.active_version("pump-1") == "v1"
    manifest = store.manifest("pump-1", "v4")
    assert manifest["created_by"] == "analyst"
    assert manifest["training_data"]["file_name"] == "after_overhaul.csv"
    assert manifest["training_data"]["rows_used"] == 250
    assert candidates.read_job(paths["LOG_DIR"], job["id"])["state"] == "done"
    assert life.events()[-1]["action"] == "train"


def test_failed_job_leaves_no_version_and_lists_the_bad_lines(store, life, paths, tmp_path):
    bad = tmp_path / "bad.csv"
    lines = open(NORMAL_CSV).read().splitlines()
    lines[5] = lines[5].replace(";", ";abc", 1)
    bad.write_text("\n".join(lines) + "\n")
    job = candidates.new_job(paths["LOG_DIR"], "pump-1", "analyst", upload(str(bad)))
    done = candidates.run_job(job, store, life, paths["LOG_DIR"])
    assert done["state"] == "failed"
    assert done["errors"][0]["line"] == 6
    assert done["errors"][0]["field"] == "Accelerometer1RMS"
    assert store.versions("pump-1") == ["v1", "v2", "v3"]
    assert not [n for n in os.listdir(os.path.join(store.root, "pump-1")) if n.startswith(".tmp")]


def test_failure_while_writing_leaves_no_half_written_version(store, life, paths, monkeypatch):
    import joblib

    def broken_dump(model, path):
        with open(path, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")
    monkeypatch.setattr(joblib, "dump", broken_dump)
    job = candidates.new_job(paths["LOG_DIR"], "pump-2", "analyst", upload(NORMAL_CSV))
    done = candidates.run_job(job, store, life, paths["LOG_DIR"])
    assert done["state"] == "failed"
    assert store.versions("pump-2") == []
    assert os.listdir(os.path.join(store.root, "pump-2")) == []
    assert "pump-2" not in store.assets()


def test_job_with_a_missing_column_says_which(store, life, paths, tmp_path):
    bad = tmp_path / "partial.csv"
    bad.write_text("Current;Voltage\n1;230\n")
    done = candidates.run_job(candidates.new_job(paths["LOG_DIR"], "pump-1", "a",
                                                 upload(str(bad))), store, life, paths["LOG_DIR"])
    assert done["state"] == "failed"
    assert "missing sensor columns" in done["message"] and "Pressure" in done["message"]


def test_labelled_file_without_anomaly_column_fails_before_training(store, life, paths):
    job = candidates.new_job(paths["LOG_DIR"], "pump-1", "a", upload(NORMAL_CSV),
                             upload(NORMAL_CSV))
    done = candidates.run_job(job, store, life, paths["LOG_DIR"])
    assert done["state"] == "failed"
    assert "no 'anomaly' column" in done["message"]
    assert store.versions("pump-1") == ["v1", "v2", "v3"]


@pytest.mark.parametrize("asset", ["../evil", "a/b", "", "x" * 65])
def test_job_refuses_invalid_asset_names(paths, asset):
    with pytest.raises(candidates.TrainingError, match="invalid asset name"):
        candidates.new_job(paths["LOG_DIR"], asset, "a", upload(NORMAL_CSV))


def test_upload_names_cannot_leave_the_job_folder():
    assert candidates.safe_upload_name("../../etc/passwd", "x.csv") == "passwd"
    assert candidates.safe_upload_name("..\\..\\win.csv", "x.csv") == "win.csv"
    assert candidates.safe_upload_name("..", "x.csv") == "x.csv"


@pytest.mark.parametrize("job_id", ["../secret", "abc", "0" * 31 + "/", "../" + "0" * 32])
def test_job_ids_are_checked(paths, job_id):
    with pytest.raises(candidates.JobNotFound):
        candidates.read_job(paths["LOG_DIR"], job_id)


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_activate_and_rollback_write_events(runner, app):
    registry = ModelRegistry(app.config["MODEL_STORE"])
    train_version(registry, "pump-1", NORMAL_CSV, 200, created_by="tests")
    result = runner.invoke(args=["models", "activate", "pump-1", "v2", "--reason", "new pump"])
    assert result.exit_code == 0, result.output
    assert "pump-1 now uses v2 (was v1)" in result.output
    result = runner.invoke(args=["models", "rollback", "pump-1", "--reason", "false alarms"])
    assert result.exit_code == 0, result.output
    assert "rolled back from v2 to v1" in result.output
    events = ModelLifecycle(registry, app.config["LOG_DIR"]).events()
    assert [(e["action"], e["to_version"], e["reason"]) for e in events] == [
        ("activate", "v2", "new pump"), ("rollback", "v1", "false alarms")]
    assert all(e["principal"].startswith("cli:") for e in events)


def test_cli_activate_requires_a_reason(runner, app):
    result = runner.invoke(args=["models", "activate", "pump-1", "v1"])
    assert result.exit_code != 0
    assert "--reason" in result.output


@pytest.mark.parametrize("version", ["../v1", "/etc", "v1/../v1"])
def test_cli_refuses_traversal(runner, version):
    result = runner.invoke(args=["models", "activate", "pump-1", version, "--reason", "x"])
    assert result.exit_code == 1
    assert "invalid version name" in result.output


def test_cli_rollback_without_history_is_a_clear_error(runner):
    result = runner.invoke(args=["models", "rollback", "pump-1", "--reason", "x"])
    assert result.exit_code == 1
    assert "no earlier active version" in result.output


def test_cli_list_marks_the_active_and_the_shadow_version(runner, app):
    registry = ModelRegistry(app.config["MODEL_STORE"])
    train_version(registry, "pump-1", NORMAL_CSV, 200, created_by="tests")
    ModelLifecycle(registry, app.config["LOG_DIR"]).set_shadow("pump-1", "v2", "admin", "watch")
    lines = runner.invoke(args=["models", "list"]).output.splitlines()
    assert [line.split("\t")[-1] for line in lines] == ["active", "shadow"]
