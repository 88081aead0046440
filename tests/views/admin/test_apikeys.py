"""API keys: the admin page, the CLI, use and revocation, and no key ever written to a file."""

import glob
import os
import re

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.support.postgres import fresh_database_url
from webapp.services import apikeys, database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Every test here runs on the embedded SQLite file and on PostgreSQL."""
    return fresh_database_url(request)

READING = {"Accelerometer1RMS": 0.2024, "Accelerometer2RMS": 0.2752, "Current": 2.17,
           "Pressure": 0.3826, "Temperature": 90.65, "Thermocouple": 26.85, "Voltage": 238.85,
           "Volume Flow RateRMS": 122.66}


def predict(client, key):
    return client.post("/api/v1/predict", json={"readings": [READING]},
                       headers={"X-API-Key": key})


def create_in_page(client, name, role="operator"):
    """Create a key through the admin page; returns (response, key shown in it or None)."""
    response = client.post("/admin/apikeys", data={
        "name": name, "role": role, "csrf_token": csrf_token(client, "/admin/apikeys")})
    shown = re.search(r'id="new-key-value">([^<]+)<', response.get_data(as_text=True))
    return response, shown.group(1) if shown else None


def test_key_created_in_the_page_is_shown_once_and_works(client, app, login):
    login("admin")
    response, key = create_in_page(client, "gateway-1")
    assert response.status_code == 200 and key.startswith("vg_")
    assert response.headers["Cache-Control"] == "no-store"
    assert predict(client, key).status_code == 200
    listing = client.get("/admin/apikeys").get_data(as_text=True)
    assert "gateway-1" in listing and key[:7] in listing
    assert key not in listing  # never shown again
    record = apikeys.get_key(app.config["DATABASE"], "gateway-1")
    assert record.last_used_at is not None and record.created_by == "admin"


def test_page_refuses_a_bad_or_duplicate_name(client, login):
    login("admin")
    response, key = create_in_page(client, "has space")
    assert response.status_code == 400 and key is None
    assert "64" in response.get_data(as_text=True)
    create_in_page(client, "dup")
    response, key = create_in_page(client, "dup")
    assert response.status_code == 400 and key is None
    assert "dup" in response.get_data(as_text=True)


def test_revoke_in_the_page_makes_the_key_403(client, app, login):
    login("admin")
    _, key = create_in_page(client, "gateway-2")
    response = client.post("/admin/apikeys/gateway-2/revoke",
                           data={"csrf_token": csrf_token(client, "/admin/apikeys"),
                                 "confirm": "1"})
    assert response.status_code == 302
    assert apikeys.get_key(app.config["DATABASE"], "gateway-2").revoked
    answer = predict(client, key)
    assert answer.status_code == 403 and "revoked" in answer.get_json()["error"]


@pytest.mark.parametrize("path, data", [
    ("/admin/apikeys", {"name": "no-csrf", "role": "operator"}),
    ("/admin/apikeys/gateway-3/revoke", {}),
])
def test_forms_require_csrf(client, app, login, path, data):
    apikeys.create_key(app.config["DATABASE"], "gateway-3", "operator", "tests")
    login("admin")
    assert client.post(path, data=data).status_code == 400
    assert apikeys.get_key(app.config["DATABASE"], "no-csrf") is None
    assert not apikeys.get_key(app.config["DATABASE"], "gateway-3").revoked


@pytest.mark.parametrize("role", ["operator", "analyst"])
def test_other_roles_get_403(client, login, role):
    login(role)
    assert client.get("/admin/apikeys").status_code == 403
    assert client.post("/admin/apikeys/x/revoke",
                       data={"csrf_token": csrf_token(client, "/")}).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/admin/apikeys")
    assert response.status_code == 302 and "/login" in response.location


def test_cli_create_prints_the_key_alone_on_the_last_line(runner, client):
    result = runner.invoke(args=["apikeys", "create", "logger-7", "--role", "analyst"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "created API key logger-7 (analyst)" in lines[0]
    assert re.fullmatch(r"vg_[A-Za-z0-9_-]{40,}", lines[-1])
    assert predict(client, lines[-1]).status_code == 200


def test_cli_list_and_revoke(runner, client, app):
    key = cli_key(runner, "k1")
    listing = runner.invoke(args=["apikeys", "list"]).output
    assert re.search(r"^k1\toperator\tvg_\S{4}\t\S+\tnever\tactive$", listing, re.M), listing
    result = runner.invoke(args=["apikeys", "revoke", "k1"])
    assert result.exit_code == 0 and "revoked API key k1" in result.output
    assert "\trevoked " in runner.invoke(args=["apikeys", "list"]).output
    assert predict(client, key).status_code == 403
    again = runner.invoke(args=["apikeys", "revoke", "k1"])
    assert again.exit_code == 1 and "no active key named 'k1'" in again.output


@pytest.mark.parametrize("args, message", [
    (["apikeys", "create", "bad name", "--role", "operator"], "key names use letters"),
    (["apikeys", "create", "x", "--role", "boss"], "Invalid value for '--role'"),
    (["apikeys", "create", "x"], "Missing option '--role'"),
])
def test_cli_refuses_bad_input(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and message in result.output


def test_keys_are_stored_only_as_a_hash(runner, app):
    key = cli_key(runner, "k2")
    with database.engine(app.config["DATABASE"]).connect() as connection:
        cells = [str(cell) for row in connection.execute(sa.select(database.api_keys))
                 for cell in row]
    assert apikeys.hash_key(key) in cells and not any(key in cell for cell in cells)
    if database.is_sqlite(app.config["DATABASE"]):  # nowhere in the file either (free pages)
        with open(app.config["DATABASE"], "rb") as handle:
            assert key.encode() not in handle.read()


def cli_key(runner, name):
    """Create a key with the CLI and return it (its last line)."""
    return runner.invoke(args=["apikeys", "create", name, "--role", "operator"]).output.split()[-1]


def test_a_key_never_appears_in_a_log_or_audit_file(client, runner, app, login):
    cli_key_value = cli_key(runner, "k3")
    login("admin")
    _, page_key = create_in_page(client, "k4")
    for key in (cli_key_value, page_key):
        assert predict(client, key).status_code == 200
        assert predict(client, key + "x").status_code == 401
        client.post("/api/v1/predict", data="{", content_type="application/json",
                    headers={"X-API-Key": key})
    runner.invoke(args=["apikeys", "revoke", "k3"])
    assert predict(client, cli_key_value).status_code == 403
    files = [p for p in glob.glob(os.path.join(app.config["LOG_DIR"], "**", "*"), recursive=True)
             if os.path.isfile(p)]
    on_files = database.is_sqlite(app.config["DATABASE"])
    assert any("audit" in p for p in files) == on_files
    assert any(p.endswith("app.log") for p in files)
    texts = {}
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            texts[path] = handle.read()
    if not on_files:  # the audit rows are in PostgreSQL
        from webapp.services.audit_db import audit
        with database.engine(app.config["DATABASE"]).connect() as connection:
            rows = connection.execute(sa.select(audit)).all()
        assert rows
        texts["audit table"] = repr(rows)
    for where, text in texts.items():
        assert cli_key_value not in text and page_key not in text, where
