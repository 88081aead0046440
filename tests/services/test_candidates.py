"""Candidate training jobs on both stores: JSON files (one host) and the shared database."""

import os
import time

import pytest

from tests.conftest import NORMAL_CSV
from tests.support.job_states import (database_states, finished_pid, folder_names, set_runner,
                                      silent_database, states_for, this_host)
from webapp.services import candidates, database
from webapp.services.job_states import DatabaseJobStates
from webapp.services.lifecycle import ModelLifecycle
from webapp.services.registry import ModelRegistry


@pytest.fixture(params=["files", "postgresql"])
def states(request):
    return states_for(request, "training")


def upload(path=NORMAL_CSV):
    return (os.path.basename(path), open(path, "rb"))


def test_a_job_is_read_back_done_and_found_by_its_version(states, paths):
    registry = ModelRegistry(paths["MODEL_STORE"])
    log_dir = paths["LOG_DIR"]
    job = candidates.new_job(log_dir, "pump-1", "analyst", upload(), normal_rows=250,
                             states=states)
    assert candidates.read_job(log_dir, job["id"], states)["state"] == "queued"
    done = candidates.run_job(job, registry, ModelLifecycle(registry, log_dir), log_dir, states)
    assert done["state"] == "done" and done["version"] == "v2"
    read = candidates.read_job(log_dir, job["id"], states)
    assert read["state"] == "done" and read["step"] == "finished" and read["version"] == "v2"
    assert [j["id"] for j in candidates.jobs_for_version(log_dir, "pump-1", "v2", states)] \
        == [job["id"]]
    assert candidates.jobs_for_version(log_dir, "pump-1", "v1", states) == []
    with pytest.raises(candidates.JobNotFound):
        candidates.read_job(log_dir, "f" * 32, states)


def test_a_job_whose_runner_died_is_reported_failed(states, paths):
    log_dir = paths["LOG_DIR"]
    job = candidates.new_job(log_dir, "pump-1", "analyst", upload(), states=states)
    candidates.write_job(log_dir, {**job, "state": "running", "pid": finished_pid()}, states)
    set_runner(states, os.path.join(candidates.jobs_dir(log_dir), f"{job['id']}.json"),
               job["id"], this_host(), finished_pid(), 1)
    read = candidates.read_job(log_dir, job["id"], states)
    assert read["state"] == "failed" and read["problem"] == "stopped"


def test_on_several_hosts_a_silent_runner_elsewhere_is_failed_a_recent_one_is_not(paths,
                                                                                  request):
    states = database_states(request, "training")
    log_dir = paths["LOG_DIR"]
    job = candidates.new_job(log_dir, "pump-1", "analyst", upload(), states=states)
    candidates.write_job(log_dir, {**job, "state": "running"}, states)
    set_runner(states, None, job["id"], "another-host", finished_pid(), 5)
    assert candidates.read_job(log_dir, job["id"], states, stale_seconds=60)["state"] == "running"
    set_runner(states, None, job["id"], "another-host", finished_pid(), 90)
    assert candidates.read_job(log_dir, job["id"], states, stale_seconds=60)["state"] == "failed"


def test_a_heartbeat_keeps_a_long_training_alive(paths, request, monkeypatch):
    states = database_states(request, "training")
    registry = ModelRegistry(paths["MODEL_STORE"])
    log_dir = paths["LOG_DIR"]
    job = candidates.new_job(log_dir, "pump-1", "analyst", upload(), states=states)
    seen = []

    def slow_train(*args, **kwargs):  # a fit that writes nothing for longer than the limit
        time.sleep(3)
        seen.append(candidates.read_job(log_dir, job["id"], states, stale_seconds=2)["state"])
        raise candidates.TrainingError("stopped by the test")

    monkeypatch.setattr(candidates, "train_version", slow_train)
    candidates.run_job(job, registry, ModelLifecycle(registry, log_dir), log_dir, states,
                       stale_seconds=2)
    assert seen == ["running"]


def test_a_job_the_database_cannot_record_leaves_no_upload_behind(paths):
    with silent_database() as url:
        with pytest.raises(database.UNAVAILABLE):
            candidates.new_job(paths["LOG_DIR"], "pump-1", "analyst", upload(),
                               states=DatabaseJobStates(url, "training"))
    assert folder_names(candidates.jobs_dir(paths["LOG_DIR"])) == []
