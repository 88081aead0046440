"""Background jobs (batch uploads, candidate trainings): their states and who is running them.

A job's state lives in a JSON file replaced atomically (one host) or in the shared database
(several hosts, services/job_states.py), never in one worker's memory: any worker of any
instance answers the progress poll, and a job whose process died is reported as failed rather
than left "running" for ever.
"""

import contextlib
import logging
import os
import socket
import threading
import time

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UNFINISHED = (QUEUED, RUNNING)
log = logging.getLogger("vigie.jobs")


def runner_stamp():
    """Who runs the job, written with each state: this process, this host, now."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "updated_at": time.time()}


def process_alive(pid):
    """False when no process of this host has `pid` (or it is not a pid at all)."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def abandoned(state, stale_seconds):
    """True when an unfinished job's runner is gone: silent for longer than `stale_seconds`,
    or a process of this host that no longer exists."""
    if time.time() - state.get("updated_at", 0) > stale_seconds:
        return True
    return state.get("host") == socket.gethostname() and "pid" in state \
        and not process_alive(state["pid"])


def heartbeat_every(stale_seconds):
    """Seconds between two heartbeats: several within the stale limit."""
    return max(0.5, min(10.0, stale_seconds / 4))


@contextlib.contextmanager
def heartbeat(beat, every):
    """Call `beat()` every `every` seconds from a daemon thread while the block runs, so that a
    long step (a training fit) is not taken for a dead runner. A failed beat is only logged:
    the job goes on, and its next state write says whether the store is back."""
    stopped = threading.Event()

    def run():
        while not stopped.wait(every):
            try:
                beat()
            except Exception as exc:  # noqa: BLE001 - a heartbeat must never stop the job
                log.warning("job heartbeat not written: %s", exc)

    thread = threading.Thread(target=run, name="job-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()
