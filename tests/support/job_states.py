"""Job state stores for the tests: JSON files or the shared database, and a runner made silent."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import sqlalchemy as sa

from webapp.services import database
from webapp.services.job_states import DatabaseJobStates, job_states


def finished_pid():
    """The pid of a process that has already ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def states_for(request, kind):
    """For a fixture parametrised over "files" and "postgresql": None or a fresh database's."""
    if request.param == "files":
        return None
    return database_states(request, kind)


def database_states(request, kind):
    """The job states of `kind` in a fresh database of the tests' PostgreSQL."""
    server = request.getfixturevalue("postgres_server")
    url = server.url(server.create_database(request.getfixturevalue("postgres_template")))
    return DatabaseJobStates(url, kind)


def set_runner(states, status_path, job_id, host, pid, seconds_ago):
    """Pretend the job's runner is `pid` on `host`, last heard of `seconds_ago` seconds ago."""
    if states is None:
        with open(status_path, encoding="utf-8") as handle:
            status = json.load(handle)
        status.update(host=host, pid=pid, updated_at=time.time() - seconds_ago)
        with open(status_path, "w", encoding="utf-8") as handle:
            json.dump(status, handle)
        return
    with database.engine(states.target).begin() as connection:
        connection.execute(job_states.update().where(job_states.c.job_id == job_id).values(
            host=host, pid=pid,
            beat_at=sa.text(f"extract(epoch from clock_timestamp()) - {float(seconds_ago)}")))


@contextlib.contextmanager
def silent_database():
    """A PostgreSQL URL whose server accepts the connection and never answers (a hung host)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/vigie"
    database.dispose_all()


def this_host():
    """The host name a runner stamp records here."""
    return socket.gethostname()


def folder_names(root):
    """What a batch or job folder holds (empty when it does not exist)."""
    return sorted(os.listdir(root)) if os.path.isdir(root) else []
