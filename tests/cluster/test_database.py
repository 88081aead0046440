"""The PostgreSQL store: migrations, start-up check, append-only audit, CSV export."""

import filecmp
import os
import sqlite3
import subprocess
import uuid

import psycopg
import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from tests.conftest import PASSWORDS
from tests.support.servers import GUNICORN, ROOT
from tests.support.postgres import fresh_database_url
from webapp import create_app
from webapp.services import apikeys, database, schema, users
from webapp.services.audit import AuditError, CsvAuditSink
from webapp.services.audit_db import DatabaseAuditSink

FLASK = os.path.join(os.path.dirname(GUNICORN), "flask")
ROW = {"request_id": "r-1", "channel": "api", "principal": "apikey:gw", "asset": "pump-1",
       "model_version": "v1", "model_sha256": "ab" * 32, "inputs": '{"Current": 2.17}',
       "reading_timestamp": "", "batch_id": None, "score": 0.123456789012, "threshold": 1.5,
       "anomaly": False, "top_sensors": "Current;Voltage", "latency_ms": 3.25,
       "app_version": "1.0.0", "shadow_version": None, "shadow_score": None,
       "shadow_anomaly": None}


@pytest.fixture
def pg_url(request):
    request.param = "postgresql"
    return fresh_database_url(request)


def audit_rows_for(day, count, principal="apikey:gw"):
    """`count` audit rows of `day`, with cells a spreadsheet would run as formulas."""
    return [{**ROW, "timestamp_utc": f"{day}T10:00:{i % 60:02d}.{i % 1000:03d}Z",
             "request_id": f"r-{i}", "principal": principal if i % 7 else "=HYPERLINK(1)",
             "anomaly": bool(i % 2), "score": i / 3 - 1} for i in range(count)]


def test_export_writes_the_file_the_csv_store_writes(pg_url, tmp_path, runner_for):
    day = "2026-03-04"
    rows = audit_rows_for(day, 450) + audit_rows_for("2026-03-05", 3)
    # 5 small writes (INSERT) and one large one (COPY) must give the same cells.
    for sink in (CsvAuditSink(str(tmp_path / "csv")), DatabaseAuditSink(pg_url)):
        for part in (rows[:5], rows[5:]):
            sink.write([dict(row) for row in part])
    result = runner_for(pg_url).invoke(
        args=["audit", "export", "--date", day, "--output", str(tmp_path / "export.csv")])
    assert result.exit_code == 0 and "exported 450 audit rows" in result.output, result.output
    assert filecmp.cmp(tmp_path / "export.csv", tmp_path / "csv" / f"predictions-{day}.csv",
                       shallow=False)
    # The chain is the file store's: `audit verify` checks the table's days and finds them whole.
    result = runner_for(pg_url).invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "predictions-2026-03-04.csv: ok, 450 rows" in result.output
    # A superuser who switches the append-only trigger off and edits a row is caught.
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_change")
        connection.execute("UPDATE audit SET score = '0.5' WHERE request_id = 'r-10'")
    result = runner_for(pg_url).invoke(args=["audit", "verify", "--date", day])
    assert result.exit_code == 1 and "BROKEN at row 11" in result.output, result.output


@pytest.fixture
def runner_for(paths):
    def make(url):
        return create_app({**paths, "DATABASE_URL": url, "TESTING": True,
                           "ADMIN_PASSWORD": PASSWORDS["admin"]}).test_cli_runner()
    return make


def database_with_login(postgres_server):
    """A new database (its owner's URL) and a new login role with no grant yet (its URL)."""
    name = postgres_server.create_database()
    login = "vigie_web_" + uuid.uuid4().hex[:8]
    postgres_server.sql(f"CREATE ROLE {login} LOGIN")
    return postgres_server.url(name), postgres_server.url(name, user=login), login


def upgraded_with_app_role(postgres_server):
    """A database at the head revision and a login granted the application role: URLs of the
    owner and of that login."""
    owner_url, app_url, login = database_with_login(postgres_server)
    schema.upgrade(owner_url)
    assert schema.grant_app_role(owner_url, login)
    return owner_url, app_url


def test_the_application_role_may_insert_and_read_audit_rows_never_change_them(
        postgres_server, paths):
    owner_url, app_url, login = database_with_login(postgres_server)
    # The real command, as an operator types it: the app loads on the empty database.
    result = subprocess.run(
        [FLASK, "--app", "webapp", "db", "upgrade"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **{"VIGIE_" + k: v for k, v in paths.items()},
             "VIGIE_DATABASE_URL": app_url, "VIGIE_DATABASE_OWNER_URL": owner_url}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"schema: empty -> {schema.head_revision()}" in result.stdout
    assert f"role {login} may use the tables as vigie_app" in result.stdout
    # Users, keys and failed sign-ins are the application's to write (sequences included).
    users.create_user(app_url, "operator", "operator-pass-123", "operator")
    apikeys.create_key(app_url, "gateway", "operator", "tests")
    sink = DatabaseAuditSink(app_url)
    sink.write(audit_rows_for("2026-03-04", 2))
    assert len(list(sink.day_rows("2026-03-04"))) == 2
    with psycopg.connect(app_url.replace("+psycopg", ""), autocommit=True) as connection:
        for statement in ("UPDATE audit SET score = '0'", "DELETE FROM audit",
                          "TRUNCATE audit", "DROP TABLE audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)
        # Users, keys and failed sign-ins are the application's to change.
        connection.execute("DELETE FROM login_failures")
    # Even the owner cannot rewrite history (a trigger), short of dropping the table.
    with psycopg.connect(owner_url.replace("+psycopg", ""), autocommit=True) as connection:
        for statement in ("UPDATE audit SET score = '0'", "DELETE FROM audit"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                connection.execute(statement)
    assert len(list(sink.day_rows("2026-03-04"))) == 2


RECORD_TABLES = {"rejections": "message", "feedback": "comment", "model_events": "reason",
                 "alarm_events": "event", "alarm_acks": "comment"}  # table: a column


def test_the_application_role_may_add_to_the_record_logs_never_change_them(
        postgres_server, tmp_path):
    from webapp.services.alarm_acks import acknowledge, acknowledgements
    from webapp.services.record_log import Logs
    owner_url, app_url = upgraded_with_app_role(postgres_server)
    acknowledge(Logs(tmp_path, app_url), "s1:1:42", "operator", "on my way")
    assert [row["comment"] for row in acknowledgements(Logs(tmp_path, app_url))["s1:1:42"]] \
        == ["on my way"]
    with psycopg.connect(app_url.replace("+psycopg", ""), autocommit=True) as connection:
        for table, column in RECORD_TABLES.items():
            connection.execute(f"INSERT INTO {table} DEFAULT VALUES")  # and read back:
            assert connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] >= 1
            for statement in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}",
                              f"TRUNCATE {table}"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    connection.execute(statement)
    # Even the owner cannot rewrite them (a trigger), short of dropping the table.
    with psycopg.connect(owner_url.replace("+psycopg", ""), autocommit=True) as connection:
        for table, column in RECORD_TABLES.items():
            for statement in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    connection.execute(statement)
    assert len(acknowledgements(Logs(tmp_path, app_url))["s1:1:42"]) == 1


def test_the_application_role_may_write_job_states_and_add_day_summaries_only(postgres_server):
    from webapp.services.job_states import DatabaseJobStates
    from webapp.services.monitoring.database_days import monitoring_days
    owner_url, app_url = upgraded_with_app_role(postgres_server)
    states = DatabaseJobStates(app_url, "batch")
    states.save("a" * 32, "operator", "pump-1", meta={"filename": "x.csv"},
                state={"state": "queued"})
    states.save("a" * 32, state={"state": "running"})  # UPDATE
    states.beat("a" * 32)
    assert states.get("a" * 32)["state"] == {"state": "running"}
    with database.engine(app_url).begin() as connection:
        connection.execute(monitoring_days.insert().values(
            kind="audit", day="2026-03-04", summary="{}", computed_at="now"))
    with psycopg.connect(app_url.replace("+psycopg", ""), autocommit=True) as connection:
        for statement in ("DELETE FROM job_states", "TRUNCATE job_states",
                          "UPDATE monitoring_days SET summary = '[]'",
                          "DELETE FROM monitoring_days", "DROP TABLE monitoring_days"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(statement)
        assert connection.execute("SELECT count(*) FROM monitoring_days").fetchone() == (1,)


def test_an_instance_refuses_to_serve_on_an_old_schema_until_db_upgrade(postgres_server, paths):
    url = postgres_server.url(postgres_server.create_database())
    settings = {**paths, "DATABASE_URL": url, "ADMIN_PASSWORD": PASSWORDS["admin"]}
    with pytest.raises(schema.SchemaOutOfDate, match="flask --app webapp db upgrade"):
        create_app(settings)
    schema.upgrade(url)
    app = create_app(settings)
    assert users.authenticate(app.config["DATABASE"], "admin", PASSWORDS["admin"])
    assert schema.current_revision(url) == schema.head_revision()


def test_a_database_of_the_previous_version_is_upgraded_with_its_users(paths):
    """instance/vigie.db made by CREATE TABLE IF NOT EXISTS (no Alembic) keeps its rows."""
    os.makedirs(paths["INSTANCE_DIR"])
    path = os.path.join(paths["INSTANCE_DIR"], "vigie.db")
    with sqlite3.connect(path) as connection:
        connection.executescript("""
            CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL
              UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at TEXT NOT NULL,
              active INTEGER NOT NULL DEFAULT 1);
            CREATE TABLE login_failures (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT
              NOT NULL, address TEXT NOT NULL, failed_at REAL NOT NULL);""")
        connection.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?,?,?,?)",
            ("old-timer", generate_password_hash("a-long-password"), "analyst", "2026-01-01"))
    app = create_app({**paths, "ADMIN_PASSWORD": PASSWORDS["admin"]})
    assert users.authenticate(app.config["DATABASE"], "old-timer", "a-long-password")
    with database.engine(path).connect() as connection:
        row = connection.execute(sa.select(database.users).where(
            database.users.c.username == "old-timer")).one()
    assert row.session_version == 0 and row.must_change_password is False


def test_an_audit_write_to_a_database_that_is_away_is_an_audit_error(postgres_server):
    sink = DatabaseAuditSink(postgres_server.url("no_such_database"))
    with pytest.raises(AuditError, match="could not be written to the database"):
        sink.write(audit_rows_for("2026-03-04", 1))


def test_resumes_read_the_database_store(pg_url):
    """A resumed watch-folder file counts, and a resumed stream replays, from the table."""
    sink = DatabaseAuditSink(pg_url)
    rows = audit_rows_for("2026-03-04", 5) + audit_rows_for("2026-03-05", 3)
    for number, row in enumerate(rows):
        row.update(batch_id="b-1" if number % 2 else "b-2", channel="stream" if number < 6
                   else "cli")
    sink.write(rows)
    assert sink.count_batch("b-1", "2026-03-04") == 4
    assert sink.count_batch("b-1", "2026-03-05") == 2
    replayed = sink.batch_rows("b-2", "2026-03-04", channel="stream")
    assert [row["request_id"] for row in replayed] == ["r-0", "r-2", "r-4"]


def test_export_on_the_file_store_copies_the_day_file(app, runner, tmp_path):
    CsvAuditSink(app.config["AUDIT_DIR"]).write(audit_rows_for("2026-03-04", 3))
    target = tmp_path / "copy.csv"
    result = runner.invoke(args=["audit", "export", "--date", "2026-03-04", "--output",
                                 str(target)])
    assert result.exit_code == 0, result.output
    assert filecmp.cmp(target, os.path.join(app.config["AUDIT_DIR"], "predictions-2026-03-04.csv"),
                       shallow=False)
    for bad in ("04/03/2026", "2026-13-40"):
        result = runner.invoke(args=["audit", "export", "--date", bad])
        assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    result = runner.invoke(args=["audit", "export", "--date", "2026-03-09"])
    assert result.exit_code == 1 and "no audit rows on 2026-03-09" in result.output


def test_monitoring_finds_the_same_figures_in_the_table_as_in_the_files(paths, pg_url, tmp_path):
    import numpy as np

    from tests.conftest import NORMAL_CSV
    from tests.support.monitoring_fixtures import normal_pool, synthetic_rows, write_audit_day
    from webapp.services.monitoring.report import MonitoringSources, report_for
    from webapp.services.registry import ModelRegistry
    pool, rng = normal_pool(NORMAL_CSV), np.random.default_rng(3)
    store = DatabaseAuditSink(pg_url)
    for day in ("2026-03-01", "2026-03-02"):
        rows = synthetic_rows(day, 300, pool, 1.0, rng, anomaly_rate=0.2)
        write_audit_day(str(tmp_path / "files" / "audit"), day, rows)
        store.write([dict(row) for row in rows])
    registry = ModelRegistry(paths["MODEL_STORE"])
    from_files = report_for(MonitoringSources(str(tmp_path / "files"), registry), None, "dates",
                            "2026-03-01", "2026-03-02")
    sources = MonitoringSources(str(tmp_path / "db"), registry, audit_store=store)
    from_table = report_for(sources, None, "dates", "2026-03-01", "2026-03-02")
    assert from_table["model"]["readings"] == 600
    assert from_table == from_files
    # Past days are summarised once per process: a second look queries nothing.
    store.day_rows = None
    assert report_for(sources, None, "dates", "2026-03-01", "2026-03-02") == from_files


def test_the_trend_reads_the_same_buckets_from_the_table_as_from_the_files(pg_url, tmp_path):
    from datetime import datetime, timedelta, timezone

    from webapp.services.monitoring.trend import trend_between
    rows = audit_rows_for("2026-03-04", 120)
    csv_sink, table = CsvAuditSink(str(tmp_path / "csv")), DatabaseAuditSink(pg_url)
    for sink in (csv_sink, table):
        sink.write([dict(row) for row in rows])
    start = datetime(2026, 3, 4, 10, 0, 10, tzinfo=timezone.utc)
    trends = [trend_between(source, str(tmp_path), "pump-1", start,
                            start + timedelta(seconds=40), timedelta(seconds=10))
              for source in (str(tmp_path / "csv"), table)]
    assert trends[0].readings == trends[1].readings == 80  # seconds 10-49 of each minute
    assert trends[0].score == trends[1].score and trends[0].sensors == trends[1].sensors
