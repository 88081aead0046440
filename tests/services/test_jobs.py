"""Job states shared by batch uploads and candidate trainings: a dead runner means failed."""

import os
import time

from tests.support.job_states import finished_pid
from webapp.services import jobs


def test_this_process_is_alive_and_an_ended_one_is_not():
    assert jobs.process_alive(os.getpid())
    assert not jobs.process_alive(finished_pid())
    assert not jobs.process_alive(None) and not jobs.process_alive("x")


def test_a_fresh_stamp_of_a_live_process_is_not_abandoned():
    assert not jobs.abandoned(jobs.runner_stamp(), stale_seconds=60)


def test_a_silent_or_dead_runner_is_abandoned():
    stamp = jobs.runner_stamp()
    assert jobs.abandoned({**stamp, "updated_at": time.time() - 120}, stale_seconds=60)
    assert jobs.abandoned({**stamp, "pid": finished_pid()}, stale_seconds=60)


def test_a_runner_on_another_host_is_judged_by_silence_only():
    stamp = {**jobs.runner_stamp(), "host": "another-host", "pid": finished_pid()}
    assert not jobs.abandoned(stamp, stale_seconds=60)


def test_a_heartbeat_beats_while_the_block_runs_and_survives_a_failed_beat():
    beats = []

    def beat():
        beats.append(time.monotonic())
        if len(beats) == 1:
            raise OSError("the store is away for a moment")

    with jobs.heartbeat(beat, 0.05):
        time.sleep(0.4)
    count = len(beats)
    time.sleep(0.15)
    assert count >= 3 and len(beats) == count  # it went on after the failure, and stopped


def test_heartbeats_come_several_times_within_the_stale_limit():
    assert jobs.heartbeat_every(120) == 10
    assert jobs.heartbeat_every(2) == 0.5
