"""Batches of the upload page on both stores: JSON files (one host) and the shared database."""

import hashlib
import io
import os
import time

import pytest

from tests.conftest import NORMAL_CSV
from tests.support.job_states import (finished_pid, folder_names, set_runner, silent_database,
                                      states_for, this_host)
from webapp.services import database
from webapp.services.audit import CsvAuditSink
from webapp.services.batch.store import BatchStore, start_upload
from webapp.services.job_states import DatabaseJobStates
from webapp.services.registry import ModelRegistry


@pytest.fixture(params=["files", "postgresql"])
def store(request, tmp_path):
    return BatchStore(str(tmp_path / "batches"), stale_seconds=60,
                      states=states_for(request, "batch"))


@pytest.fixture
def loaded(paths):
    return ModelRegistry(paths["MODEL_STORE"]).load_active("pump-1")


def readings(count):
    with open(NORMAL_CSV, encoding="utf-8") as handle:
        return ("\n".join(handle.read().splitlines()[:count + 1]) + "\n").encode()


def wait_finished(store, batch_id, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = store.status(batch_id)
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} still {status['state']}")


def test_an_upload_is_scored_listed_and_summarised(store, loaded, tmp_path):
    data = readings(60)
    sink = CsvAuditSink(str(tmp_path / "audit"))
    batch_id = start_upload(store, loaded, sink, io.BytesIO(data), "line 3.csv", "operator",
                            chunk_rows=25)
    status = wait_finished(store, batch_id)
    assert status["state"] == "done" and status["scored"] == 60
    assert status["bytes_read"] == status["bytes_total"] == len(data)
    assert store.summary(batch_id)["scored"] == 60
    meta = store.meta(batch_id)
    assert meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["filename"] == "line 3.csv"
    names = folder_names(store.folder(batch_id))
    assert "results.csv" in names and "input.csv" not in names  # the input is removed
    assert [m["batch_id"] for m in store.list("operator")] == [batch_id]
    assert store.list("someone else") == []


def test_the_newest_batches_are_listed_first(store):
    made = []
    for number in range(3):
        batch_id = store.reserve()
        store.create(batch_id, {"principal": "operator", "asset": "pump-1",
                                "filename": f"{number}.csv"})
        made.append(batch_id)
        time.sleep(0.002)  # created_at has millisecond resolution
    assert [m["batch_id"] for m in store.list(limit=2)] == made[::-1][:2]


def test_a_runner_gone_silent_or_dead_is_reported_failed(store):
    batch_id = store.reserve()
    store.create(batch_id, {"principal": "operator", "asset": "pump-1", "filename": "x.csv"})
    store.set_status(batch_id, "running", rows_read=10)
    assert store.status(batch_id)["state"] == "running"
    status_path = store.path(batch_id, "status.json")
    # Another host, heard of recently: its pid means nothing here, so it is running.
    set_runner(store.states, status_path, batch_id, "another-host", finished_pid(), 5)
    assert store.status(batch_id)["state"] == "running"
    # Silent past the stale limit: that host is gone.
    set_runner(store.states, status_path, batch_id, "another-host", finished_pid(), 120)
    status = store.status(batch_id)
    assert status["state"] == "failed" and status["code"] == "stopped"
    # On this host, a dead process is enough.
    set_runner(store.states, status_path, batch_id, this_host(), finished_pid(), 1)
    assert store.status(batch_id)["code"] == "stopped"


def test_unknown_and_malformed_ids_are_key_errors(store):
    for batch_id in ("0" * 32, "../etc", "x" * 32):
        with pytest.raises(KeyError):
            store.meta(batch_id)


def test_a_database_that_does_not_answer_gives_an_error_quickly_and_leaves_nothing(loaded,
                                                                                   tmp_path):
    root = tmp_path / "batches"
    with silent_database() as url:
        store = BatchStore(str(root), states=DatabaseJobStates(url, "batch"))
        started = time.monotonic()
        with pytest.raises(database.UNAVAILABLE):
            start_upload(store, loaded, CsvAuditSink(str(tmp_path / "audit")),
                         io.BytesIO(readings(5)), "x.csv", "operator")
        assert time.monotonic() - started < database.CONNECT_TIMEOUT + 3
    assert folder_names(root) == []  # neither the upload nor a folder is left behind
    assert not os.path.exists(tmp_path / "audit")
