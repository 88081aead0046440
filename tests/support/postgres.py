"""A private PostgreSQL 15 for the tests: initdb in a temporary folder, a free loopback port."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from tests.support.servers import free_port

PG_BIN = os.environ.get("VIGIE_PG_BIN", "/usr/lib/postgresql/15/bin")
INITDB = os.path.join(PG_BIN, "initdb")


def _as_postgres(command):
    """PostgreSQL refuses to run as root: root runs it as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PostgresServer:
    """One private cluster: start, stop (to play "the database went away"), create databases."""

    def __init__(self, folder, port=None):
        self.folder = str(folder)
        self.data = os.path.join(self.folder, "data")
        self.run = os.path.join(self.folder, "run")
        self.port = port or free_port()

    def url(self, database="postgres", user="postgres", password=None):
        """A SQLAlchemy URL (psycopg 3 driver) for one database of this cluster."""
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{user}{secret}@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *arguments):
        subprocess.run(_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, *arguments]),
                       check=True, capture_output=True, timeout=60)

    def init(self):
        for folder in (self.data, self.run):
            os.makedirs(folder, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres")
        os.chmod(self.folder, 0o711)
        subprocess.run(_as_postgres([INITDB, "-D", self.data, "-A", "trust", "-U", "postgres",
                                     "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"]),
                       check=True, capture_output=True, timeout=120)

    def start(self, durable=False):
        """Start; durable=False turns fsync off (a test cluster need not survive a power cut)."""
        options = (f"-p {self.port} -k {self.run} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200")
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._ctl("-o", options, "-l", os.path.join(self.run, "pg.log"), "-w", "start")

    def stop(self):
        self._ctl("-m", "fast", "-w", "stop")

    def sql(self, statement, database="postgres"):
        """Run one statement as the superuser (autocommit, so CREATE DATABASE works)."""
        import psycopg
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname=database, autocommit=True) as connection:
            connection.execute(statement)

    def create_database(self, template="template0"):
        """A new, empty database (or a copy of `template`); returns its name."""
        name = "vigie_" + uuid.uuid4().hex[:12]
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def log(self):
        with contextlib.suppress(OSError), open(os.path.join(self.run, "pg.log")) as handle:
            return handle.read()
        return ""


def postgres_missing_reason():
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    if not os.path.exists(INITDB):
        return f"PostgreSQL 15 is not installed ({INITDB} missing: apt-get install postgresql)"
    return None


def require_postgres():
    """Skip with the reason when PostgreSQL is missing; under CI=true fail instead."""
    reason = postgres_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL cluster for the whole test session, stopped and removed at the end."""
    require_postgres()
    # Not under pytest's tmp folder: that one is private to root, and `postgres` must reach it.
    server = PostgresServer(tempfile.mkdtemp(prefix="vigie-pg-"))
    start = time.monotonic()
    server.init()
    server.start()
    print(f"postgres: ready on port {server.port} in {time.monotonic() - start:.1f} s")
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_template(postgres_server):
    """A database at the current schema, copied for each test (faster than migrating each)."""
    from webapp.services import database, schema
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    schema.upgrade(url)
    database.engine(url).dispose()  # a template must have no open connection to be copied
    return name


def fresh_database_url(request):
    """For a fixture parametrised over "sqlite" and "postgresql": None or a fresh database."""
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("postgres_server")
    return server.url(server.create_database(request.getfixturevalue("postgres_template")))


@pytest.fixture(params=["sqlite", "postgresql"])
def record_logs(request, tmp_path):
    """Record logs (rejections, feedback, events, alarms, acks) on both stores: the CSV files
    of a temporary log folder, or the tables of a fresh database."""
    from webapp.services.record_log import Logs
    return Logs(tmp_path / "logs", fresh_database_url(request))


def record_logs_of(paths):
    """The record logs create_app makes for `paths`: the tables when DATABASE_URL is set."""
    from webapp.services.record_log import Logs
    return Logs(paths["LOG_DIR"], paths.get("DATABASE_URL"))


def unreachable_database_url():
    """A PostgreSQL URL on a loopback port where nothing listens: "the database went away"."""
    return f"postgresql+psycopg://vigie@127.0.0.1:{free_port()}/vigie"
