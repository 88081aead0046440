"""Background jobs (batch uploads, candidate trainings): their states and who is running them.

A job's state lives in a JSON file replaced atomically, never in one worker's memory: any
gunicorn worker answers the progress poll, and a job whose process died is reported as
failed rather than left "running" for ever.
"""

import os
import socket
import time

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UNFINISHED = (QUEUED, RUNNING)


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
